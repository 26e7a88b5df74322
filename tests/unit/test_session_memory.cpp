// The sessions in memory (daemon/sessions/session_memory.hpp): LRU order, eviction, TTL and the
// message bound, with the time given to each call.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "daemon/sessions/session_memory.hpp"

using llmb::history_message;
using llmb::session;
using llmb::session_key;
using llmb::session_memory;
using namespace std::chrono_literals;

namespace {

const session_memory::time_point t0 = session_memory::time_point{} + 1'700'000'000s;

session_key key(std::string name) {
    return {"llm", "dev1", std::move(name)};
}

std::vector<std::string> names(const std::vector<session_key>& keys) {
    std::vector<std::string> out;
    for (const auto& k : keys)
        out.push_back(k.session);
    return out;
}

history_message u(std::string text) {
    return {"user", std::move(text), 0};
}
history_message a(std::string text) {
    return {"assistant", std::move(text), 0};
}

session stored(session_memory::time_point last_used, int turns) {
    session s;
    s.created = t0;
    s.last_used = last_used;
    for (int i = 0; i < turns; ++i) {
        s.messages.push_back(u(std::to_string(i)));
        s.messages.push_back(a(std::to_string(i)));
    }
    return s;
}

}  // namespace

TEST_CASE("memory: creating beyond max_sessions evicts in order of last use, and says which") {
    session_memory m(3, 50, 3600s);
    std::vector<session_key> evicted;
    m.create(key("a"), t0, evicted);
    m.create(key("b"), t0 + 1s, evicted);
    m.create(key("c"), t0 + 2s, evicted);
    CHECK(evicted.empty());
    REQUIRE(m.use(key("a"), t0 + 3s) != nullptr);                   // order: b, c, a
    CHECK(m.append(key("b"), u("q"), a("r"), t0 + 4s) != nullptr);  // order: c, a, b
    CHECK(m.peek(key("c")) != nullptr);                             // peek does not reorder
    CHECK(m.set_tokens(key("c"), "user", "q", 5) == nullptr);       // nor does set_tokens
    m.create(key("d"), t0 + 5s, evicted);
    CHECK(names(evicted) == std::vector<std::string>{"c"});
    CHECK(m.peek(key("c")) == nullptr);
    m.set_system(key("e"), "sys", t0 + 6s, evicted);  // creates: a goes
    CHECK(names(evicted) == std::vector<std::string>{"c", "a"});
    CHECK(m.clear(key("b"), t0 + 7s) != nullptr);  // order: d, e, b
    m.create(key("f"), t0 + 8s, evicted);
    CHECK(names(evicted) == std::vector<std::string>{"c", "a", "d"});
    CHECK(m.size() == 3);
    CHECK(m.peek(key("b"))->last_used == t0 + 7s);
    CHECK(m.peek(key("b"))->messages.empty());
    CHECK(m.peek(key("e"))->system == "sys");
    CHECK(m.peek(key("f"))->created == t0 + 8s);
}

TEST_CASE("memory: max_sessions 0 keeps one session") {
    session_memory m(0, 50, 3600s);
    std::vector<session_key> evicted;
    m.create(key("a"), t0, evicted);
    m.create(key("b"), t0, evicted);
    CHECK(m.size() == 1);
    CHECK(names(evicted) == std::vector<std::string>{"a"});
}

TEST_CASE("memory: expire removes exactly the sessions idle for ttl or longer") {
    session_memory m(100, 50, 100s);
    std::vector<session_key> evicted;
    m.create(key("b-old"), t0, evicted);
    m.create(key("a-old"), t0 + 1s, evicted);
    m.create(key("new"), t0 + 50s, evicted);
    m.use(key("b-old"), t0 + 2s);  // used later than created: counts from the use
    CHECK(m.expire(t0 + 100s).empty());
    CHECK(names(m.expire(t0 + 102s)) == std::vector<std::string>{"a-old", "b-old"});
    CHECK(m.size() == 1);
    CHECK(m.expire(t0 + 149s).empty());
    CHECK(names(m.expire(t0 + 150s)) == std::vector<std::string>{"new"});
    CHECK(m.size() == 0);
    // Time going backwards expires nothing.
    m.create(key("c"), t0 + 200s, evicted);
    CHECK(m.expire(t0).empty());
    CHECK(evicted.empty());
}

TEST_CASE("memory: sessions read back take their order from last_used, then the limit holds") {
    session_memory m(2, 4, 3600s);
    CHECK_FALSE(m.put(key("newest"), stored(t0 + 30s, 1)));
    CHECK(m.put(key("oldest"), stored(t0 + 10s, 3)));  // 6 messages: trimmed to 4
    CHECK_FALSE(m.put(key("middle"), stored(t0 + 20s, 2)));
    CHECK(m.size() == 3);  // put evicts nothing
    CHECK(m.peek(key("oldest"))->messages.size() == 4);
    CHECK(m.peek(key("oldest"))->messages.front().content == "1");
    m.order_by_last_use();
    CHECK(names(m.evict_over_limit()) == std::vector<std::string>{"oldest"});
    CHECK(m.evict_over_limit().empty());
    // The order goes on from there: middle is the least recently used.
    std::vector<session_key> evicted;
    m.create(key("next"), t0 + 40s, evicted);
    CHECK(names(evicted) == std::vector<std::string>{"middle"});
    // A session put again replaces the one in memory.
    CHECK_FALSE(m.put(key("next"), stored(t0 + 50s, 1)));
    CHECK(m.size() == 2);
    CHECK(m.peek(key("next"))->messages.size() == 2);
}

TEST_CASE("memory: the message bound drops whole turns, leading replies first") {
    session_memory m(10, 3, 3600s);
    session s = stored(t0, 0);
    s.messages = {a("orphan"), u("1"), a("1"), u("2"), a("2a"), a("2b")};
    CHECK(m.put(key("s"), s));
    const auto& kept = m.peek(key("s"))->messages;
    REQUIRE(kept.size() == 3);
    CHECK(kept[0].content == "2");
    CHECK(kept[2].content == "2b");
    CHECK(m.append(key("none"), u("q"), a("r"), t0) == nullptr);
    CHECK(m.size() == 1);
}
