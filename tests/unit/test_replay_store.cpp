// The replay store behind resume: what it holds, its bounds, the order it evicts in, the ttl
// after the terminal, and replacing the last event.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "daemon/requests/replay_store.hpp"

using llmb::replay_limits;
using llmb::replay_store;

namespace {

using namespace std::chrono_literals;

const replay_store::time_point t0{};

// A payload of n bytes naming its seq, so that a test sees which event it got back.
std::string ev(std::uint64_t seq, std::size_t n = 10) {
    std::string s = "e" + std::to_string(seq);
    s.resize(n, '.');
    return s;
}

std::vector<std::string> evs(std::uint64_t from, std::uint64_t to, std::size_t n = 10) {
    std::vector<std::string> out;
    for (auto s = from; s <= to; ++s)
        out.push_back(ev(s, n));
    return out;
}

replay_store make(std::size_t request_bytes, std::size_t total_bytes,
                  std::chrono::seconds ttl = 60s) {
    return replay_store(replay_limits{request_bytes, total_bytes, ttl});
}

void fill(replay_store& st, const std::string& key, std::uint64_t from, std::uint64_t to,
          std::size_t n = 10) {
    for (auto s = from; s <= to; ++s)
        st.record(key, s, ev(s, n));
}

}  // namespace

TEST_CASE("replay_store: from_seq inside, before and after what is held") {
    auto st = make(1000, 10000);
    st.open("k", "llm/response/d/r1", "corr");
    fill(st, "k", 0, 4);

    auto l = st.find("k", 2, t0);
    CHECK(l.result == replay_store::outcome::replay);
    CHECK(l.topic == "llm/response/d/r1");
    CHECK(l.correlation == "corr");
    CHECK(l.payloads == evs(2, 4));
    CHECK_FALSE(l.finished);

    CHECK(st.find("k", 0, t0).payloads == evs(0, 4));
    // The device has everything: nothing to replay, the stream goes on live.
    l = st.find("k", 5, t0);
    CHECK(l.result == replay_store::outcome::replay);
    CHECK(l.payloads.empty());
    CHECK(st.find("k", 99, t0).payloads.empty());

    CHECK(st.find("other", 0, t0).result == replay_store::outcome::unknown);
    CHECK(st.bytes() == 50);
    CHECK(st.entries() == 5);
    CHECK(st.requests() == 1);

    // The per-request bound (30 bytes: 3 events) drops the oldest: seq 0 and 1 are gone now.
    auto small = make(30, 10000);
    small.open("k", "t", "");
    fill(small, "k", 0, 4);
    CHECK(small.bytes() == 30);
    CHECK(small.entries() == 3);
    l = small.find("k", 1, t0);
    CHECK(l.result == replay_store::outcome::evicted);
    CHECK(l.first_seq == 2);
    CHECK(small.find("k", 2, t0).payloads == evs(2, 4));
}

TEST_CASE("replay_store: a finished request is held ttl after its terminal") {
    auto st = make(1000, 10000, 30s);
    st.open("k", "t", "");
    fill(st, "k", 0, 3);
    st.finish("k", t0 + 5s);
    auto l = st.find("k", 3, t0 + 34s);
    CHECK(l.result == replay_store::outcome::replay);
    CHECK(l.finished);
    CHECK(l.payloads == evs(3, 3));
    CHECK(st.find("k", 0, t0 + 35s).result == replay_store::outcome::unknown);
    st.expire(t0 + 34s);
    CHECK(st.requests() == 1);
    st.expire(t0 + 35s);
    CHECK(st.requests() == 0);
    CHECK(st.bytes() == 0);
    CHECK(st.entries() == 0);

    // ttl 0: nothing is held after the terminal.
    auto none = make(1000, 10000, 0s);
    none.open("k", "t", "");
    fill(none, "k", 0, 3);
    none.finish("k", t0);
    CHECK(none.requests() == 0);
    CHECK(none.bytes() == 0);
}

TEST_CASE("replay_store: over the total, finished requests go first, oldest first") {
    // 3 requests of 4 events (40 bytes) each fit 120 bytes.
    auto st = make(1000, 120);
    for (const char* k : {"a", "b", "c"}) {
        st.open(k, "t", "");
        fill(st, k, 0, 3);
    }
    // b finishes before a; c runs on.
    st.finish("b", t0 + 1s);
    st.finish("a", t0 + 2s);
    CHECK(st.bytes() == 120);

    // c grows: b (finished first) goes whole, then a, although c's own events are older.
    st.record("c", 4, ev(4, 30));
    CHECK(st.find("b", 0, t0 + 3s).result == replay_store::outcome::unknown);
    CHECK(st.find("a", 0, t0 + 3s).payloads == evs(0, 3));
    st.record("c", 5, ev(5, 40));
    CHECK(st.find("a", 0, t0 + 3s).result == replay_store::outcome::unknown);
    CHECK(st.find("c", 0, t0 + 3s).payloads.size() == 6);
    CHECK(st.bytes() == 110);
    CHECK(st.requests() == 1);
}

TEST_CASE("replay_store: with no finished request left, the oldest events of running ones go") {
    auto st = make(1000, 60);
    st.open("a", "t", "");
    st.open("b", "t", "");
    // Interleaved: a0 b0 a1 b1 a2 b2 (60 bytes).
    for (std::uint64_t s = 0; s <= 2; ++s) {
        st.record("a", s, ev(s));
        st.record("b", s, ev(s));
    }
    st.record("a", 3, ev(3));  // a0 goes (the oldest event of all)
    CHECK(st.find("a", 0, t0).result == replay_store::outcome::evicted);
    CHECK(st.find("b", 0, t0).payloads == evs(0, 2));
    st.record("a", 4, ev(4));  // then b0
    CHECK(st.find("b", 0, t0).result == replay_store::outcome::evicted);
    CHECK(st.find("b", 1, t0).payloads == evs(1, 2));
    CHECK(st.find("a", 1, t0).payloads == evs(1, 4));
    CHECK(st.bytes() == 60);
    CHECK(st.entries() == 6);

    // Many requests, many events: the bound holds at every step.
    auto big = make(500, 2000);
    for (int r = 0; r < 50; ++r) {
        const std::string k = "r" + std::to_string(r);
        big.open(k, "t", "");
        for (std::uint64_t s = 0; s < 20; ++s) {
            big.record(k, s, ev(s, 7 + static_cast<std::size_t>(r % 5)));
            REQUIRE(big.bytes() <= 2000);
        }
        if (r % 3 == 0)
            big.finish(k, t0 + std::chrono::seconds(r));
    }
    CHECK(big.bytes() > 1900);
}

TEST_CASE("replay_store: recording the last seq again replaces its payload") {
    auto st = make(1000, 10000);
    st.open("k", "t", "");
    fill(st, "k", 0, 2);
    st.record("k", 2, "joined chunk, longer");
    auto l = st.find("k", 1, t0);
    REQUIRE(l.payloads.size() == 2);
    CHECK(l.payloads[0] == ev(1));
    CHECK(l.payloads[1] == "joined chunk, longer");
    CHECK(st.entries() == 3);
    CHECK(st.bytes() == 20 + 20);
    st.record("k", 3, ev(3));
    CHECK(st.find("k", 2, t0).payloads.size() == 2);

    // A replacement over the request's bound evicts the oldest, not the new payload.
    auto small = make(30, 10000);
    small.open("k", "t", "");
    fill(small, "k", 0, 2);
    small.record("k", 2, ev(2, 25));
    CHECK(small.find("k", 2, t0).payloads == std::vector<std::string>{ev(2, 25)});
    CHECK(small.find("k", 1, t0).result == replay_store::outcome::evicted);
    CHECK(small.bytes() == 25);
    // Replacing an event that was evicted itself keeps it gone.
    auto tiny = make(5, 10000);
    tiny.open("k", "t", "");
    tiny.record("k", 0, ev(0));
    tiny.record("k", 0, ev(0, 3));
    CHECK(tiny.entries() == 0);
    CHECK(tiny.find("k", 0, t0).result == replay_store::outcome::evicted);
    CHECK(tiny.find("k", 1, t0).result == replay_store::outcome::replay);
}

TEST_CASE("replay_store: an id used again replaces the finished request; limits shrink on reload") {
    auto st = make(1000, 10000);
    st.open("k", "t1", "");
    fill(st, "k", 0, 3);
    st.finish("k", t0);
    st.open("k", "t2", "c2");
    CHECK(st.bytes() == 0);
    CHECK(st.requests() == 1);
    st.record("k", 0, ev(0));
    auto l = st.find("k", 0, t0);
    CHECK(l.topic == "t2");
    CHECK(l.payloads == evs(0, 0));

    fill(st, "k", 1, 9);
    st.set_limits(replay_limits{30, 10000, 60s});
    CHECK(st.bytes() == 30);
    CHECK(st.find("k", 7, t0).payloads == evs(7, 9));
    st.set_limits(replay_limits{30, 0, 60s});
    CHECK(st.bytes() == 0);
    CHECK(st.entries() == 0);
}
