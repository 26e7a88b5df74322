#include "signal_watcher.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace llmb::cli {

signal_watcher::signal_watcher(std::function<void(int)> on_signal)
    : on_signal_(std::move(on_signal)) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (const int rc = pthread_sigmask(SIG_BLOCK, &set, &old_mask_); rc != 0) {
        throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
    }
    signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC);
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    if (signal_fd_ < 0 || stop_fd_ < 0) {
        const int err = errno;
        if (signal_fd_ >= 0) {
            close(signal_fd_);
        }
        if (stop_fd_ >= 0) {
            close(stop_fd_);
        }
        pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
        throw std::system_error(err, std::generic_category(), "signalfd/eventfd");
    }
    thread_ = std::thread([this] { run(); });
}

signal_watcher::~signal_watcher() {
    const std::uint64_t one = 1;
    while (write(stop_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
    thread_.join();
    close(signal_fd_);
    close(stop_fd_);
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void signal_watcher::run() {
    for (;;) {
        std::array<pollfd, 2> fds{{{signal_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
        if (poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if (fds[1].revents != 0) {
            return;
        }
        if ((fds[0].revents & POLLIN) != 0) {
            signalfd_siginfo info{};
            if (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
                on_signal_(static_cast<int>(info.ssi_signo));
            }
        }
    }
}

}  // namespace llmb::cli
