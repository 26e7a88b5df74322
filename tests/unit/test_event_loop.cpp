// The event loop's timers, deferred work and wakes (daemon/service/event_loop.hpp). Each test
// runs the real loop on this thread until a callback stops it; timers due in the past fire on
// the first turn, so nothing waits on the clock.
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "daemon/service/event_loop.hpp"

using llmb::event_loop;
using namespace std::chrono_literals;

namespace {

// A deadline already passed, `ago` before now: such timers fire in deadline order.
event_loop::clock::time_point past(std::chrono::milliseconds ago) {
    return event_loop::clock::now() - ago;
}

}  // namespace

TEST_CASE("event_loop: timers fire in deadline order, equal deadlines in the order added") {
    event_loop loop;
    std::vector<std::string> fired;
    const auto t = past(10ms);
    loop.add_timer(t + 3ms, [&] { fired.push_back("3"); });
    loop.add_timer(t + 1ms, [&] { fired.push_back("1"); });
    loop.add_timer(t + 2ms, [&] { fired.push_back("2a"); });
    loop.add_timer(t + 2ms, [&] { fired.push_back("2b"); });
    loop.add_timer(t + 4ms, [&] { loop.stop(); });
    loop.run();
    CHECK(fired == std::vector<std::string>{"1", "2a", "2b", "3"});
}

TEST_CASE("event_loop: a cancelled timer never fires, also when cancelled by an earlier one") {
    event_loop loop;
    std::vector<std::string> fired;
    const auto t = past(10ms);
    const auto gone = loop.add_timer(t + 1ms, [&] { fired.push_back("gone"); });
    event_loop::timer_id later = 0;
    loop.add_timer(t + 2ms, [&] {
        fired.push_back("canceller");
        loop.cancel_timer(later);
    });
    later = loop.add_timer(t + 3ms, [&] { fired.push_back("later"); });
    loop.add_timer(t + 4ms, [&] { loop.stop(); });
    loop.cancel_timer(gone);
    loop.cancel_timer(gone);    // twice: no-op
    loop.cancel_timer(999999);  // unknown: no-op
    loop.run();
    CHECK(fired == std::vector<std::string>{"canceller"});
}

TEST_CASE("event_loop: a timer re-armed from its own callback fires again") {
    event_loop loop;
    int runs = 0;
    std::function<void()> tick = [&] {
        if (++runs == 3) {
            loop.stop();
            return;
        }
        loop.add_timer(past(1ms), tick);
    };
    loop.add_timer(past(1ms), tick);
    loop.run();
    CHECK(runs == 3);
}

TEST_CASE("event_loop: deferred work runs after the callback that deferred it, before the next") {
    event_loop loop;
    std::vector<std::string> order;
    const auto t = past(10ms);
    loop.add_timer(t + 1ms, [&] {
        loop.defer([&] {
            order.push_back("deferred");
            loop.defer([&] { order.push_back("deferred by deferred"); });
        });
        order.push_back("first");
    });
    loop.add_timer(t + 2ms, [&] {
        order.push_back("second");
        loop.stop();
    });
    loop.run();
    CHECK(order == std::vector<std::string>{"first", "deferred", "deferred by deferred", "second"});
}

TEST_CASE("event_loop: deferred before run() runs first") {
    event_loop loop;
    std::vector<std::string> order;
    loop.defer([&] { order.push_back("deferred"); });
    loop.add_timer(past(1ms), [&] {
        order.push_back("timer");
        loop.stop();
    });
    loop.run();
    CHECK(order == std::vector<std::string>{"deferred", "timer"});
}

TEST_CASE("event_loop: wake() from another thread runs the wake handler on the loop") {
    event_loop loop;
    const auto loop_thread = std::this_thread::get_id();
    bool on_loop_thread = false;
    int wakes = 0;
    loop.set_wake_handler([&] {
        ++wakes;
        on_loop_thread = std::this_thread::get_id() == loop_thread;
        loop.stop();
    });
    std::thread waker([&] { loop.wake(); });
    loop.run();  // returns only once the handler ran
    waker.join();
    CHECK(wakes == 1);
    CHECK(on_loop_thread);
}

TEST_CASE("event_loop: wakes before the loop turns are coalesced into one handler call") {
    event_loop loop;
    int wakes = 0;
    loop.set_wake_handler([&] { ++wakes; });
    loop.wake();
    loop.wake();
    loop.wake();
    // Posted work runs in the same dispatch, before the wake handler; the stop comes after both.
    loop.post([&] { loop.defer([&] { loop.stop(); }); });
    loop.run();
    CHECK(wakes == 1);
}

TEST_CASE("event_loop: post() from another thread runs on the loop, in order") {
    event_loop loop;
    std::vector<int> got;
    std::thread poster([&] {
        for (int i = 0; i < 100; ++i)
            loop.post([&got, i] { got.push_back(i); });
        loop.post([&] { loop.stop(); });
    });
    loop.run();
    poster.join();
    REQUIRE(got.size() == 100);
    for (int i = 0; i < 100; ++i)
        CHECK(got[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("event_loop: the wake handler has one owner at a time") {
    event_loop loop;
    loop.set_wake_handler([] {});
    CHECK_THROWS_AS(loop.set_wake_handler([] {}), std::logic_error);
    loop.set_wake_handler(nullptr);  // the owner lets go
    CHECK_NOTHROW(loop.set_wake_handler([] {}));
}
