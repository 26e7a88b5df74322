// epoll readiness plus a timer min-heap driven by one timerfd, for a single-threaded server.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <queue>
#include <vector>

namespace llmb::mock {

class event_loop {
public:
    struct fd_event {
        std::uint64_t tag;
        std::uint32_t events;
    };
    struct timer_event {
        std::uint64_t key;
        std::int64_t deadline_ns;  // monotonic clock
    };

    event_loop();  // throws std::system_error
    ~event_loop();
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    // Level-triggered interest in fd; events come back with tag.
    void watch(int fd, std::uint32_t events, std::uint64_t tag);
    void rewatch(int fd, std::uint32_t events, std::uint64_t tag);
    void unwatch(int fd) noexcept;

    // key comes back from wait() once deadline_ns has passed. There is no cancelling: the owner
    // ignores timers it no longer wants.
    void add_timer(std::int64_t deadline_ns, std::uint64_t key);

    // Blocks until an fd is ready or a timer is due (not at all when poll_only), then appends the
    // ready fds and the due timers (earliest first).
    void wait(bool poll_only, std::vector<fd_event>& fds, std::vector<timer_event>& timers);

private:
    struct later {
        bool operator()(const timer_event& a, const timer_event& b) const noexcept {
            return a.deadline_ns > b.deadline_ns;
        }
    };

    void arm(std::int64_t deadline_ns);

    int epoll_fd_ = -1;
    int timer_fd_ = -1;
    std::int64_t armed_ns_ = -1;  // deadline the timerfd is set to, -1 when disarmed
    std::priority_queue<timer_event, std::vector<timer_event>, later> timers_;
    std::vector<epoll_event> ready_;
};

}  // namespace llmb::mock
