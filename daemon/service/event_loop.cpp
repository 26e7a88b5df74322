#include "daemon/service/event_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace llmb {

namespace {
[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}
}  // namespace

event_loop::event_loop() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0)
        throw_errno("epoll_create1");
    wakefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakefd_ < 0)
        throw_errno("eventfd");
    watch(wakefd_, EPOLLIN, [this](std::uint32_t) {
        std::uint64_t v = 0;
        while (::read(wakefd_, &v, sizeof v) > 0) {
        }
        wake_pending_.store(false, std::memory_order_release);
        drain_posted();
        if (wake_flag_.exchange(false, std::memory_order_acq_rel) && wake_handler_) {
            wake_handler_();
        }
    });
}

event_loop::~event_loop() {
    if (wakefd_ >= 0)
        ::close(wakefd_);
    if (epfd_ >= 0)
        ::close(epfd_);
}

void event_loop::watch(int fd, std::uint32_t events, fd_callback cb) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
        if (errno != EEXIST)
            throw_errno("epoll_ctl(ADD)");
        if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0)
            throw_errno("epoll_ctl(MOD)");
    }
    fds_[fd] = std::make_shared<fd_callback>(std::move(cb));
}

void event_loop::modify(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0)
        throw_errno("epoll_ctl(MOD)");
}

void event_loop::unwatch(int fd) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);  // the fd may already be closed
    auto it = fds_.find(fd);
    if (it == fds_.end())
        return;
    // The callback may be running right now: keep it alive until the dispatch ends.
    deferred_.push_back([cb = std::move(it->second)] {});
    fds_.erase(it);
}

event_loop::timer_id event_loop::add_timer(clock::time_point deadline, std::function<void()> cb) {
    const timer_id id = next_timer_++;
    timers_.emplace(std::make_pair(deadline, id), std::move(cb));
    timer_deadlines_.emplace(id, deadline);
    return id;
}

void event_loop::cancel_timer(timer_id id) {
    auto it = timer_deadlines_.find(id);
    if (it == timer_deadlines_.end())
        return;
    timers_.erase(std::make_pair(it->second, id));
    timer_deadlines_.erase(it);
}

void event_loop::post(std::function<void()> fn) {
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back(std::move(fn));
    }
    if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wakefd_, &one, sizeof one);
    }
}

void event_loop::wake() {
    wake_flag_.store(true, std::memory_order_release);
    if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wakefd_, &one, sizeof one);
    }
}

void event_loop::set_wake_handler(std::function<void()> fn) {
    if (fn && wake_handler_)
        throw std::logic_error("event_loop: the wake handler has an owner already");
    wake_handler_ = std::move(fn);
}

void event_loop::drain_posted() {
    std::vector<std::function<void()>> batch;
    {
        std::lock_guard lock(posted_mutex_);
        batch.swap(posted_);
    }
    for (auto& fn : batch)
        fn();
}

void event_loop::run_deferred() {
    while (!deferred_.empty()) {
        auto batch = std::move(deferred_);
        deferred_.clear();
        for (auto& fn : batch)
            fn();
    }
}

int event_loop::next_timeout_ms() const {
    if (!deferred_.empty())
        return 0;
    if (timers_.empty())
        return -1;
    const auto now = clock::now();
    const auto first = timers_.begin()->first.first;
    if (first <= now)
        return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(first - now).count();
    return ms > 60000 ? 60000 : static_cast<int>(ms);
}

void event_loop::fire_timers() {
    const auto now = clock::now();
    while (!timers_.empty() && timers_.begin()->first.first <= now) {
        auto node = timers_.extract(timers_.begin());
        timer_deadlines_.erase(node.key().second);
        node.mapped()();
        run_deferred();
    }
}

void event_loop::run() {
    running_ = true;
    std::vector<epoll_event> events(256);
    while (running_) {
        run_deferred();
        const int n =
            epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), next_timeout_ms());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            const auto& ev = events[static_cast<std::size_t>(i)];
            auto it = fds_.find(ev.data.fd);
            if (it == fds_.end())
                continue;
            auto cb = it->second;  // keeps the callback alive if it unwatches its own fd
            (*cb)(ev.events);
            run_deferred();
        }
        fire_timers();
    }
    run_deferred();
}

}  // namespace llmb
