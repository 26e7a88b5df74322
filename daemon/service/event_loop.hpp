// The one event loop of the daemon: epoll for file descriptors, a timer set, work handed over
// from other threads, and deferred work that runs after the current dispatch.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace llmb {

class event_loop {
public:
    using clock = std::chrono::steady_clock;
    using fd_callback = std::function<void(std::uint32_t events)>;
    using timer_id = std::uint64_t;

    event_loop();
    ~event_loop();
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    // File descriptors: events are EPOLLIN/EPOLLOUT bits. The callback may remove its own fd.
    void watch(int fd, std::uint32_t events, fd_callback cb);
    void modify(int fd, std::uint32_t events);
    void unwatch(int fd);

    // Timers fire once, on the loop thread, at or after the deadline.
    timer_id add_timer(clock::time_point deadline, std::function<void()> cb);
    timer_id add_timer(std::chrono::milliseconds delay, std::function<void()> cb) {
        return add_timer(clock::now() + delay, std::move(cb));
    }
    void cancel_timer(timer_id id);

    // Thread-safe: runs fn on the loop thread soon. Called from library threads.
    void post(std::function<void()> fn);
    // Thread-safe: wakes the loop so that the wake handler runs (lock-free, coalesced).
    void wake();
    // The one wake handler, for the one owner of wake(): a flag and no queue is what makes
    // wake() cheap enough for every acknowledgement, and a flag cannot tell two owners apart.
    // So the slot is taken explicitly: setting it while it is taken throws std::logic_error
    // (a second owner would otherwise silently steal the first one's wakes); nullptr frees it.
    // Loop thread only. Others hand work over with post().
    void set_wake_handler(std::function<void()> fn);

    // Loop thread only: runs fn after the current callback returns (safe destruction point).
    void defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

    // Runs until stop().
    void run();
    void stop() { running_ = false; }

private:
    void drain_posted();
    void run_deferred();
    int next_timeout_ms() const;
    void fire_timers();

    int epfd_ = -1;
    int wakefd_ = -1;
    bool running_ = false;
    std::unordered_map<int, std::shared_ptr<fd_callback>> fds_;
    std::map<std::pair<clock::time_point, timer_id>, std::function<void()>> timers_;
    std::unordered_map<timer_id, clock::time_point> timer_deadlines_;
    timer_id next_timer_ = 1;
    std::mutex posted_mutex_;
    std::vector<std::function<void()>> posted_;
    std::atomic<bool> wake_pending_{false};
    std::atomic<bool> wake_flag_{false};
    std::function<void()> wake_handler_;
    std::vector<std::function<void()>> deferred_;
};

}  // namespace llmb
