// Token buckets per client (daemon/requests/rate_limiter.hpp).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "daemon/requests/rate_limiter.hpp"

using llmb::rate_limit_config;
using llmb::rate_limiter;
using namespace std::chrono_literals;

namespace {

const rate_limiter::clock::time_point t0 = rate_limiter::clock::time_point{} + 1000h;

rate_limiter make(double per_second, double burst) {
    rate_limit_config cfg;
    cfg.per_second = per_second;
    cfg.burst = burst;
    return rate_limiter(cfg);
}

// How many of `count` back-to-back requests at `now` pass.
int take(rate_limiter& rl, const std::string& key, rate_limiter::clock::time_point now, int count) {
    int passed = 0;
    std::uint32_t retry = 0;
    for (int i = 0; i < count; ++i) {
        passed += rl.try_acquire(key, now, retry) ? 1 : 0;
    }
    return passed;
}

}  // namespace

TEST_CASE("a burst passes, then the next request is refused with the time to the next token") {
    auto rl = make(10.0, 3.0);
    std::uint32_t retry = 12345;
    CHECK(rl.try_acquire("dev1", t0, retry));
    CHECK(retry == 0);
    CHECK(rl.try_acquire("dev1", t0, retry));
    CHECK(rl.try_acquire("dev1", t0, retry));
    CHECK_FALSE(rl.try_acquire("dev1", t0, retry));
    CHECK(retry == 100);
    // A refusal takes nothing: the wait only shrinks with time.
    CHECK_FALSE(rl.try_acquire("dev1", t0 + 40ms, retry));
    CHECK(retry == 60);
    CHECK_FALSE(rl.try_acquire("dev1", t0 + 99ms, retry));
    CHECK(retry == 1);
    CHECK(rl.try_acquire("dev1", t0 + 100ms, retry));
    CHECK(retry == 0);
    CHECK_FALSE(rl.try_acquire("dev1", t0 + 100ms, retry));
    CHECK(retry == 100);
}

TEST_CASE("retry_after is rounded up to whole milliseconds") {
    auto rl = make(10.0, 1.0);
    std::uint32_t retry = 0;
    CHECK(rl.try_acquire("c", t0, retry));
    CHECK_FALSE(rl.try_acquire("c", t0 + 99'999'999ns, retry));
    CHECK(retry == 1);  // 1 ns to go still means "wait 1 ms"
    CHECK_FALSE(rl.try_acquire("c", t0 + 50'500us, retry));
    CHECK(retry == 50);  // 49.5 ms rounded up
    CHECK(rl.try_acquire("c", t0 + 100ms, retry));
}

TEST_CASE("tokens come back at per_second, up to burst and no further") {
    auto rl = make(4.0, 5.0);
    CHECK(take(rl, "c", t0, 10) == 5);
    CHECK(take(rl, "c", t0 + 250ms, 10) == 1);
    CHECK(take(rl, "c", t0 + 1250ms, 10) == 4);
    // Idle for a long time: the bucket holds burst tokens, not more.
    CHECK(take(rl, "c", t0 + 1h, 10) == 5);
}

TEST_CASE("waiting exactly retry_after_ms always succeeds, for whole and fractional rates") {
    for (const double rate : {0.3, 0.5, 1.0, 3.0, 7.0, 10.0, 333.3, 1000.0, 12345.6}) {
        CAPTURE(rate);
        auto rl = make(rate, 2.0);
        auto now = t0;
        std::uint32_t retry = 0;
        for (int i = 0; i < 20; ++i) {
            while (rl.try_acquire("c", now, retry)) {
            }
            REQUIRE(retry > 0);
            now += std::chrono::milliseconds(retry);
            CHECK(rl.try_acquire("c", now, retry));
        }
    }
}

TEST_CASE("fractional rates and bursts") {
    std::uint32_t retry = 0;
    SUBCASE("one request every two seconds") {
        auto rl = make(0.5, 1.0);
        CHECK(rl.try_acquire("c", t0, retry));
        CHECK_FALSE(rl.try_acquire("c", t0, retry));
        CHECK(retry == 2000);
        CHECK_FALSE(rl.try_acquire("c", t0 + 1999ms, retry));
        CHECK(rl.try_acquire("c", t0 + 2000ms, retry));
    }
    SUBCASE("three per second: a token every 333.33 ms") {
        auto rl = make(3.0, 1.0);
        CHECK(rl.try_acquire("c", t0, retry));
        CHECK_FALSE(rl.try_acquire("c", t0, retry));
        CHECK(retry == 334);
        CHECK_FALSE(rl.try_acquire("c", t0 + 333ms, retry));
        CHECK(rl.try_acquire("c", t0 + 334ms, retry));
    }
    SUBCASE("a burst of 2.5 lets two through at once and a third half a token later") {
        auto rl = make(1.0, 2.5);
        CHECK(take(rl, "c", t0, 5) == 2);
        CHECK_FALSE(rl.try_acquire("c", t0, retry));
        CHECK(retry == 500);
        CHECK(rl.try_acquire("c", t0 + 500ms, retry));
    }
    SUBCASE("a burst below 1 counts as 1") {
        auto rl = make(1.0, 0.2);
        CHECK(take(rl, "c", t0, 5) == 1);
    }
}

TEST_CASE("over a long run no more pass than rate * time + burst") {
    const double rate = 7.0;
    const double burst = 3.0;
    auto rl = make(rate, burst);
    int passed = 0;
    std::uint32_t retry = 0;
    for (auto now = t0; now < t0 + 10s; now += 1ms) {
        passed += rl.try_acquire("c", now, retry) ? 1 : 0;
    }
    // 3 at once, then one per 142.857 ms over the 9.999 s that follow.
    CHECK(passed == 3 + 69);
    CHECK(passed <= static_cast<int>(rate * 10.0 + burst));
}

TEST_CASE("keys have independent buckets") {
    auto rl = make(1.0, 2.0);
    CHECK(take(rl, "a", t0, 5) == 2);
    CHECK(take(rl, "b", t0, 5) == 2);
    CHECK(take(rl, "a", t0 + 1s, 5) == 1);
    CHECK(take(rl, "c", t0 + 1s, 5) == 2);
    CHECK(rl.size() == 3);
}

TEST_CASE("prune forgets exactly the buckets that are full again") {
    auto rl = make(10.0, 3.0);
    std::uint32_t retry = 0;
    CHECK(rl.prune(t0) == 0);
    CHECK(take(rl, "a", t0, 3) == 3);       // full again at t0 + 300 ms
    CHECK(rl.try_acquire("b", t0, retry));  // full again at t0 + 100 ms
    CHECK(rl.size() == 2);
    CHECK(rl.prune(t0 + 99ms) == 0);
    CHECK(rl.prune(t0 + 100ms) == 1);
    CHECK(rl.size() == 1);
    // "a" is still remembered as short of tokens.
    CHECK(take(rl, "a", t0 + 100ms, 5) == 1);
    CHECK(rl.prune(t0 + 399ms) == 0);
    CHECK(rl.prune(t0 + 400ms) == 1);
    CHECK(rl.size() == 0);
    // A forgotten client starts with a full bucket, as it would have anyway.
    CHECK(take(rl, "a", t0 + 400ms, 5) == 3);
}

TEST_CASE("pruning keeps memory bounded under many one-off clients") {
    auto rl = make(100.0, 1.0);
    auto now = t0;
    for (int i = 0; i < 10000; ++i) {
        std::uint32_t retry = 0;
        CHECK(rl.try_acquire("client-" + std::to_string(i), now, retry));
        now += 1ms;
        if (i % 100 == 99) {
            rl.prune(now);
            CHECK(rl.size() <= 10);
        }
    }
}

TEST_CASE("per_second 0 means unlimited and keeps no state") {
    auto rl = make(0.0, 1.0);
    CHECK(rl.unlimited());
    CHECK(take(rl, "c", t0, 10000) == 10000);
    CHECK(rl.size() == 0);
    std::uint32_t retry = 7;
    CHECK(rl.try_acquire("c", t0, retry));
    CHECK(retry == 0);
    CHECK(make(-1.0, 1.0).unlimited());
    CHECK(make(std::numeric_limits<double>::quiet_NaN(), 1.0).unlimited());
    CHECK_FALSE(make(0.001, 1.0).unlimited());
}

TEST_CASE("large time jumps neither overflow nor bank more than a burst") {
    auto rl = make(5.0, 2.0);
    CHECK(take(rl, "c", t0, 5) == 2);
    const auto far = t0 + std::chrono::hours(24 * 365 * 100);
    CHECK(take(rl, "c", far, 5) == 2);
    std::uint32_t retry = 0;
    CHECK_FALSE(rl.try_acquire("c", far, retry));
    CHECK(retry == 200);
    CHECK(rl.prune(far + 400ms) == 1);

    SUBCASE("a rate so slow that the wait does not fit in 32 bits is clamped") {
        auto slow = make(1e-9, 1.0);
        CHECK(slow.try_acquire("c", t0, retry));
        CHECK_FALSE(slow.try_acquire("c", t0, retry));
        CHECK(retry == std::numeric_limits<std::uint32_t>::max());
    }
}
