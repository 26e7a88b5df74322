// SIGINT and SIGTERM taken in one dedicated thread (signalfd), never in a handler.
#pragma once

#include <csignal>
#include <functional>
#include <thread>

namespace llmb::cli {

class signal_watcher {
public:
    // Blocks SIGINT and SIGTERM in the calling thread, so construct it before any other thread
    // starts (threads inherit the mask), and calls on_signal(signo) from the watching thread.
    explicit signal_watcher(std::function<void(int)> on_signal);
    ~signal_watcher();

    signal_watcher(const signal_watcher&) = delete;
    signal_watcher& operator=(const signal_watcher&) = delete;

private:
    void run();

    std::function<void(int)> on_signal_;
    sigset_t old_mask_{};
    int signal_fd_ = -1;
    int stop_fd_ = -1;  // eventfd: written to end the thread
    std::thread thread_;
};

}  // namespace llmb::cli
