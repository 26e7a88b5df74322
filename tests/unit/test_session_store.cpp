// Conversation sessions in memory and on disk (daemon/sessions/session_store.hpp).
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/sessions/session_store.hpp"
#include "session_support.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using llmb::session_store;
using llmb::test::a;
using llmb::test::any_contains;
using llmb::test::config;
using llmb::test::contents;
using llmb::test::file_of;
using llmb::test::key;
using llmb::test::read_text;
using llmb::test::temp_dir;
using llmb::test::test_clock;
using llmb::test::tmp_files;
using llmb::test::u;
using namespace std::chrono_literals;

TEST_CASE("find, get_or_create, append, clear, set_system and erase") {
    test_clock clock;
    session_store store(config(), clock.fn());
    CHECK(store.find(key("s1")) == nullptr);
    CHECK_FALSE(store.append(key("s1"), u("q"), a("r")));  // no session: nothing stored
    CHECK(store.size() == 0);

    const auto created_at = clock.now;
    const auto& s = store.get_or_create(key("s1"));
    CHECK(s.messages.empty());
    CHECK_FALSE(s.system.has_value());
    CHECK(s.created == created_at);
    CHECK(s.last_used == created_at);
    CHECK(store.size() == 1);

    clock.now += 5s;
    CHECK(store.append(key("s1"), u("hi", 3), a("hello", 4)));
    CHECK(store.append(key("s1"), u("and?"), a("bye")));
    const auto* found = store.find(key("s1"));
    REQUIRE(found != nullptr);
    CHECK(contents(*found) ==
          std::vector<std::string>{"user:hi", "assistant:hello", "user:and?", "assistant:bye"});
    CHECK(found->messages[0].tokens == 3);
    CHECK(found->messages[1].tokens == 4);
    CHECK(found->messages[2].tokens == 0);
    CHECK(found->created == created_at);

    clock.now += 5s;
    CHECK(store.find(key("s1"))->last_used == clock.now);             // find marks it used
    CHECK(&store.get_or_create(key("s1")) == store.find(key("s1")));  // no second session

    // Other keys are other sessions.
    CHECK(store.find(key("s1", "dev2")) == nullptr);
    CHECK(store.find(key("s1", "dev1", "maze")) == nullptr);

    CHECK(store.set_system(key("s1"), "Be brief.").system == "Be brief.");
    CHECK(store.clear(key("s1")));
    CHECK(store.find(key("s1"))->messages.empty());
    CHECK(store.find(key("s1"))->system == "Be brief.");
    CHECK(store.set_system(key("s1"), std::nullopt).system == std::nullopt);
    CHECK_FALSE(store.clear(key("nope")));

    // set_system creates a session that does not exist.
    const auto& s2 = store.set_system(key("s2"), "You are a maze guide.");
    CHECK(s2.system == "You are a maze guide.");
    CHECK(s2.created == clock.now);
    CHECK(store.size() == 2);

    CHECK(store.erase(key("s1")));
    CHECK_FALSE(store.erase(key("s1")));
    CHECK(store.find(key("s1")) == nullptr);
    CHECK(store.size() == 1);
    CHECK(store.take_warnings().empty());
}

TEST_CASE("set_tokens counts the newest matching message, persists it, and is missed safely") {
    temp_dir dir;
    test_clock clock;
    const auto cfg = config(100, 6, 3600s, dir.path.string());
    {
        session_store store(cfg, clock.fn(), false);
        CHECK_FALSE(store.set_tokens(key("s1"), "user", "q", 9));  // no session
        store.get_or_create(key("s1"));
        const auto used_at = clock.now;
        CHECK(store.append(key("s1"), u("old"), a("x")));
        CHECK(store.append(key("s1"), u("same"), a("r1", 2)));
        CHECK(store.append(key("s1"), u("same"), a("r2")));
        clock.now += 5s;

        // The newest unknown match gets the count; the older one keeps its estimate.
        CHECK(store.set_tokens(key("s1"), "user", "same", 11));
        CHECK(store.list("llm", "dev1").front().last_used == used_at);  // not marked used
        const auto* s = store.find(key("s1"));
        REQUIRE(s != nullptr);
        CHECK(s->messages[2].tokens == 0);
        CHECK(s->messages[4].tokens == 11);
        CHECK(store.set_tokens(key("s1"), "user", "same", 12));
        CHECK(store.find(key("s1"))->messages[2].tokens == 12);
        CHECK_FALSE(store.set_tokens(key("s1"), "user", "same", 13));  // both counted already

        // Another role, other text, a zero count or another session change nothing.
        CHECK_FALSE(store.set_tokens(key("s1"), "assistant", "same", 5));
        CHECK_FALSE(store.set_tokens(key("s1"), "user", "sam", 5));
        CHECK_FALSE(store.set_tokens(key("s1"), "assistant", "r2", 0));
        CHECK(store.set_tokens(key("s1"), "assistant", "r2", 6));
        CHECK_FALSE(store.set_tokens(key("s1"), "assistant", "r1", 7));  // already 2
        CHECK_FALSE(store.set_tokens(key("s2"), "user", "same", 5));
        CHECK_FALSE(store.set_tokens(key("s1", "dev2"), "user", "same", 5));

        // A message trimmed away (max_messages 6) is not found any more.
        CHECK(store.append(key("s1"), u("third"), a("r3")));
        CHECK_FALSE(store.set_tokens(key("s1"), "user", "old", 5));
        CHECK(store.set_tokens(key("s1"), "user", "third", 8));
        CHECK(store.take_warnings().empty());
    }
    // The counts reached the file.
    session_store again(cfg, clock.fn(), false);
    CHECK(again.load().empty());
    const auto* s = again.find(key("s1"));
    REQUIRE(s != nullptr);
    CHECK(contents(*s) == std::vector<std::string>{"user:same", "assistant:r1", "user:same",
                                                   "assistant:r2", "user:third", "assistant:r3"});
    std::vector<std::uint32_t> tokens;
    for (const auto& m : s->messages)
        tokens.push_back(m.tokens);
    CHECK(tokens == std::vector<std::uint32_t>{12, 2, 11, 6, 8, 0});
}

TEST_CASE("list shows a client's sessions in name order without marking them used") {
    test_clock clock;
    session_store store(config(3), clock.fn());
    store.get_or_create(key("b"));
    clock.now += 1s;
    store.append(key("b"), u("q"), a("r"));
    store.set_system(key("a"), "sys");
    store.get_or_create(key("c", "dev2"));
    const auto l = store.list("llm", "dev1");
    REQUIRE(l.size() == 2);
    CHECK(l[0].session == "a");
    CHECK(l[0].has_system);
    CHECK(l[0].messages == 0);
    CHECK(l[1].session == "b");
    CHECK(l[1].messages == 2);
    CHECK_FALSE(l[1].has_system);
    CHECK(l[1].last_used == clock.now);
    CHECK(store.list("llm", "dev3").empty());
    CHECK(store.list("maze", "dev1").empty());
    // "b" is still the least recently used: listing did not touch it.
    store.get_or_create(key("d"));
    CHECK(store.find(key("b")) == nullptr);
}

TEST_CASE("creating beyond max_sessions evicts the least recently used") {
    test_clock clock;
    session_store store(config(3), clock.fn());
    for (const char* name : {"a", "b", "c"}) {
        store.get_or_create(key(name));
        clock.now += 1s;
    }
    store.find(key("a"));  // order of use now: b, c, a
    store.get_or_create(key("d"));
    CHECK(store.size() == 3);
    CHECK(store.find(key("b")) == nullptr);  // order: c, a, d
    store.append(key("c"), u("q"), a("r"));  // order: a, d, c
    store.set_system(key("e"), "x");
    CHECK(store.find(key("a")) == nullptr);
    CHECK(store.find(key("c")) != nullptr);  // order: d, e, c
    store.get_or_create(key("f"));
    CHECK(store.find(key("d")) == nullptr);
    CHECK(store.find(key("e")) != nullptr);
    CHECK(store.find(key("f")) != nullptr);
    CHECK(store.size() == 3);
}

TEST_CASE("expire removes the sessions idle for ttl or longer") {
    test_clock clock;
    session_store store(config(100, 50, 100s), clock.fn());
    const auto start = clock.now;
    store.get_or_create(key("old"));
    clock.now = start + 50s;
    store.get_or_create(key("new"));
    CHECK(store.expire(start + 99s) == 0);
    CHECK(store.expire(start + 100s) == 1);
    CHECK(store.find(key("old")) == nullptr);
    clock.now = start + 120s;
    CHECK(store.find(key("new")) != nullptr);  // used again: idle since 120 s
    CHECK(store.expire(start + 219s) == 0);
    CHECK(store.expire(start + 220s) == 1);
    CHECK(store.size() == 0);
}

TEST_CASE("max_messages drops the oldest whole turns") {
    test_clock clock;
    SUBCASE("even limit") {
        session_store store(config(10, 4), clock.fn());
        store.get_or_create(key("s"));
        store.append(key("s"), u("1"), a("1"));
        store.append(key("s"), u("2"), a("2"));
        CHECK(store.find(key("s"))->messages.size() == 4);
        store.append(key("s"), u("3"), a("3"));
        CHECK(contents(*store.find(key("s"))) ==
              std::vector<std::string>{"user:2", "assistant:2", "user:3", "assistant:3"});
    }
    SUBCASE("odd limit: never half a turn") {
        session_store store(config(10, 5), clock.fn());
        store.get_or_create(key("s"));
        store.append(key("s"), u("1"), a("1"));
        store.append(key("s"), u("2"), a("2"));
        store.append(key("s"), u("3"), a("3"));
        CHECK(contents(*store.find(key("s"))) ==
              std::vector<std::string>{"user:2", "assistant:2", "user:3", "assistant:3"});
    }
    SUBCASE("a limit below one turn keeps nothing") {
        session_store store(config(10, 1), clock.fn());
        store.get_or_create(key("s"));
        store.append(key("s"), u("1"), a("1"));
        CHECK(store.find(key("s"))->messages.empty());
    }
}

TEST_CASE("without a state_dir nothing touches the disk") {
    test_clock clock;
    session_store store(config(), clock.fn());
    CHECK(store.load().empty());
    store.set_system(key("s"), "x");
    store.append(key("s"), u("q"), a("r"));
    CHECK(store.take_warnings().empty());
}

TEST_CASE("sessions survive a restart: files, round trip, LRU order and TTL") {
    temp_dir dir;
    test_clock clock;
    const auto start = clock.now;
    const auto cfg = config(3, 50, 100s, dir.path.string());
    {
        session_store store(cfg, clock.fn());  // with fsync, as in production
        CHECK(store.load().empty());
        store.set_system(key("chat"), "Be brief. \"quoted\"\n");
        clock.now += 10s;
        store.append(key("chat"), u("Grüße, 你好", 7), a("{\"json\": true}", 9));
        clock.now += 10s;
        store.get_or_create(key("empty", "dev2", "maze"));
        clock.now += 10s;
        store.append(key("chat"), u("again"), a("ok"));  // chat: last used at +30 s
        store.get_or_create(key("gone"));
        CHECK(store.erase(key("gone")));
        CHECK(store.take_warnings().empty());
    }
    CHECK(fs::is_regular_file(file_of(dir.path, key("chat"))));
    CHECK(fs::is_regular_file(file_of(dir.path, key("empty", "dev2", "maze"))));
    CHECK_FALSE(fs::exists(file_of(dir.path, key("gone"))));
    CHECK_FALSE(fs::exists(dir.path / "sessions" / "maze" / "dev1"));
    CHECK(tmp_files(dir.path) == 0);
    const auto doc = nlohmann::json::parse(read_text(file_of(dir.path, key("chat"))));
    CHECK(doc["session"] == "chat");
    CHECK(doc["messages"].size() == 4);

    clock.now = start + 60s;
    session_store again(cfg, clock.fn());
    CHECK(again.load().empty());
    CHECK(again.size() == 2);
    const auto l = again.list("llm", "dev1");
    REQUIRE(l.size() == 1);
    CHECK(l[0].last_used == start + 30s);  // restored, not "now"
    const auto* chat = again.find(key("chat"));
    REQUIRE(chat != nullptr);
    CHECK(chat->system == "Be brief. \"quoted\"\n");
    CHECK(chat->created == start);
    CHECK(contents(*chat) == std::vector<std::string>{"user:Grüße, 你好",
                                                      "assistant:{\"json\": true}", "user:again",
                                                      "assistant:ok"});
    CHECK(chat->messages[0].tokens == 7);
    CHECK(chat->messages[1].tokens == 9);
    CHECK(chat->messages[2].tokens == 0);
    // TTL goes on from the recorded last use: "empty" was last used at +20 s.
    CHECK(again.expire(start + 119s) == 0);
    CHECK(again.expire(start + 120s) == 1);
    CHECK(again.flush());
    CHECK_FALSE(fs::exists(file_of(dir.path, key("empty", "dev2", "maze"))));
    CHECK_FALSE(fs::exists(dir.path / "sessions" / "maze"));
}

TEST_CASE("load drops what expired, evicts beyond max_sessions by last use, trims messages") {
    temp_dir dir;
    test_clock clock;
    const auto start = clock.now;
    {
        session_store store(config(10, 50, 100s, dir.path.string()), clock.fn(), false);
        for (const char* name : {"s0", "s1", "s2", "s3"}) {
            store.get_or_create(key(name));
            store.append(key(name), u("1"), a("1"));
            store.append(key(name), u("2"), a("2"));
            clock.now += 10s;
        }
        clock.now = start + 50s;
        store.find(key("s1"));  // a touch alone is not written: s1 stays "used at +10 s"
    }
    // Restart at +105 s with room for two sessions of two messages: s0 (used at 0) has expired,
    // s1 (+10 s) is evicted as the least recently used, s2 and s3 remain, trimmed.
    clock.now = start + 105s;
    session_store store(config(2, 2, 100s, dir.path.string()), clock.fn(), false);
    CHECK(store.load().empty());
    CHECK(store.size() == 2);
    CHECK(store.flush());
    CHECK_FALSE(fs::exists(file_of(dir.path, key("s0"))));
    CHECK_FALSE(fs::exists(file_of(dir.path, key("s1"))));
    REQUIRE(store.find(key("s2")) != nullptr);
    CHECK(contents(*store.find(key("s2"))) == std::vector<std::string>{"user:2", "assistant:2"});
    // The trimmed history was written back.
    const auto doc = nlohmann::json::parse(read_text(file_of(dir.path, key("s3"))));
    CHECK(doc["messages"].size() == 2);
    // LRU order continues: s2 was just found, so s3 goes first.
    store.get_or_create(key("s4"));
    CHECK(store.find(key("s3")) == nullptr);
    CHECK(store.flush());
    CHECK_FALSE(fs::exists(file_of(dir.path, key("s3"))));
}

TEST_CASE("a key that is not a valid name stays in memory only") {
    temp_dir dir;
    test_clock clock;
    session_store store(config(10, 50, 3600s, dir.path.string()), clock.fn(), false);
    store.get_or_create(key("../../escape"));
    CHECK(store.append(key("../../escape"), u("q"), a("r")));
    const auto warnings = store.take_warnings();
    CHECK(warnings.size() == 1);
    CHECK(any_contains(warnings, "kept in memory only"));
    CHECK(store.find(key("../../escape"))->messages.size() == 2);
    CHECK(fs::is_empty(dir.path));
}

TEST_CASE("shared: two stores on one state_dir see each other's turns, clears and deletes") {
    temp_dir dir;
    test_clock clock;
    auto cfg = config(100, 50, 3600s, dir.path.string());
    cfg.shared = true;
    session_store one(cfg, clock.fn(), false);
    session_store two(cfg, clock.fn(), false);
    CHECK(one.load().empty());
    CHECK(two.load().empty());

    one.get_or_create(key("s1"));
    CHECK(one.append(key("s1"), u("q1"), a("a1")));
    // The second bridge takes the next turn: it reads the session the first one wrote.
    const auto* seen = two.find(key("s1"));
    REQUIRE(seen != nullptr);
    CHECK(contents(*seen) == std::vector<std::string>{"user:q1", "assistant:a1"});
    CHECK(two.append(key("s1"), u("q2"), a("a2")));
    // And back: the first one does not answer from its stale copy.
    seen = one.find(key("s1"));
    REQUIRE(seen != nullptr);
    CHECK(contents(*seen) ==
          std::vector<std::string>{"user:q1", "assistant:a1", "user:q2", "assistant:a2"});
    CHECK(one.append(key("s1"), u("q3"), a("a3")));
    CHECK(two.find(key("s1"))->messages.size() == 6);

    CHECK(two.clear(key("s1")));
    CHECK(one.find(key("s1"))->messages.empty());
    one.set_system(key("s1"), std::string("terse"));
    CHECK(two.find(key("s1"))->system == std::optional<std::string>("terse"));

    CHECK(one.erase(key("s1")));
    CHECK(two.find(key("s1")) == nullptr);
    CHECK(two.size() == 0);
    CHECK(one.take_warnings().empty());
    CHECK(two.take_warnings().empty());

    // Not shared: a store keeps its own copy and does not look at the files again.
    cfg.shared = false;
    session_store three(cfg, clock.fn(), false);
    session_store four(cfg, clock.fn(), false);
    three.get_or_create(key("s2"));
    four.get_or_create(key("s2"));
    CHECK(three.append(key("s2"), u("x"), a("y")));
    CHECK(four.find(key("s2"))->messages.empty());
}

// The exact bytes of a session file: files written by earlier versions must keep loading, and
// other tools may read them, so the format is fixed (keys sorted, UTF-8 kept as it is).
