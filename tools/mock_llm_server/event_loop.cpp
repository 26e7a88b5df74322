#include "event_loop.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "clock.hpp"

namespace llmb::mock {

namespace {

// The tag of the timerfd itself; the owner's tags are anything else.
constexpr std::uint64_t timer_tag = ~std::uint64_t{0};

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

void control(int epoll_fd, int op, int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (epoll_ctl(epoll_fd, op, fd, &ev) != 0) {
        throw_errno("epoll_ctl");
    }
}

}  // namespace

event_loop::event_loop() : ready_(1024) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
        throw_errno("epoll_create1");
    }
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) {
        const int e = errno;
        close(epoll_fd_);
        throw std::system_error(e, std::generic_category(), "timerfd_create");
    }
    control(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, EPOLLIN, timer_tag);
}

event_loop::~event_loop() {
    close(timer_fd_);
    close(epoll_fd_);
}

void event_loop::watch(int fd, std::uint32_t events, std::uint64_t tag) {
    control(epoll_fd_, EPOLL_CTL_ADD, fd, events, tag);
}

void event_loop::rewatch(int fd, std::uint32_t events, std::uint64_t tag) {
    control(epoll_fd_, EPOLL_CTL_MOD, fd, events, tag);
}

void event_loop::unwatch(int fd) noexcept {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void event_loop::add_timer(std::int64_t deadline_ns, std::uint64_t key) {
    timers_.push(timer_event{key, deadline_ns});
}

void event_loop::arm(std::int64_t deadline_ns) {
    if (deadline_ns == armed_ns_) {
        return;
    }
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000);
    if (timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
        throw_errno("timerfd_settime");
    }
    armed_ns_ = deadline_ns;
}

void event_loop::wait(bool poll_only, std::vector<fd_event>& fds,
                      std::vector<timer_event>& timers) {
    std::int64_t now = monotonic_ns();
    int timeout_ms = poll_only ? 0 : -1;
    if (!timers_.empty()) {
        if (timers_.top().deadline_ns <= now) {
            timeout_ms = 0;
        } else if (timeout_ms != 0) {
            arm(timers_.top().deadline_ns);
        }
    }
    const int n = epoll_wait(epoll_fd_, ready_.data(), static_cast<int>(ready_.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
        throw_errno("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
        const epoll_event& ev = ready_[static_cast<std::size_t>(i)];
        if (ev.data.u64 == timer_tag) {
            std::uint64_t expirations = 0;
            [[maybe_unused]] const ssize_t r = read(timer_fd_, &expirations, sizeof expirations);
            armed_ns_ = -1;
            continue;
        }
        fds.push_back(fd_event{ev.data.u64, ev.events});
    }
    if (n == static_cast<int>(ready_.size())) {
        ready_.resize(ready_.size() * 2);
    }
    now = monotonic_ns();
    while (!timers_.empty() && timers_.top().deadline_ns <= now) {
        timers.push_back(timers_.top());
        timers_.pop();
    }
}

}  // namespace llmb::mock
