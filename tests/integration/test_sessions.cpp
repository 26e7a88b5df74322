// Sessions: the bridge keeps a conversation per (project, client, session), sends it before the
// new message, answers session ops, keeps sessions across a restart, expires idle ones, trims
// history to the context and, when the server still refuses the prompt, trims harder and
// retries once. The mock's echo_all answer lists every message the bridge sent, so a test sees
// the history in the answer itself.
#include <doctest/doctest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

using message_list = std::vector<std::pair<std::string, std::string>>;  // role, content

// A request in session `session` whose prompt is text under the given mock directives.
nlohmann::json session_request(const std::string& id, const std::string& session,
                               const std::string& directives, const std::string& text) {
    return {{"id", id}, {"session", session}, {"prompt", mock_prompt(directives, text)}};
}

// What echo_all answers for these messages: "role:content" joined by '|'.
std::string echo_all_of(const message_list& messages) {
    std::string out;
    for (const auto& [role, content] : messages) {
        if (!out.empty())
            out += '|';
        out += role + ":" + content;
    }
    return out;
}

// Asks in a session with echo_all and returns the answer (the stream must end with done).
std::string ask(test_client& c, const std::string& client, const std::string& id,
                const std::string& session, const std::string& text) {
    c.publish_request(client, session_request(id, session, "echo_all", text));
    auto s = c.collect(client, id, 10s);
    INFO(s.summary());
    check_well_formed(s);
    REQUIRE(s.last().value("type", std::string()) == "done");
    REQUIRE(!s.events.empty());
    CHECK(s.events.front().value("session", std::string()) == session);
    return s.text();
}

// Sends a session op (id added) and returns its one terminal event.
nlohmann::json session_op(test_client& c, const std::string& client, const std::string& id,
                          nlohmann::json op) {
    op["id"] = id;
    c.publish(c.prefix() + "/session/" + client, op.dump());
    auto s = c.collect(client, id, 10s);
    INFO(s.summary());
    REQUIRE(s.finished());
    CHECK(s.assembler.violations().empty());
    CHECK(s.events.size() == 1);
    CHECK(s.terminals() == 1);
    check_seqs(s);
    const auto& e = s.last();
    CHECK(e.value("id", std::string()) == id);
    return e;
}

nlohmann::json op_of(const std::string& op, const std::string& session) {
    return {{"op", op}, {"session", session}};
}

// The stored messages a get answers with, as (role, content) pairs.
message_list get_messages(test_client& c, const std::string& client, const std::string& id,
                          const std::string& session, bool expect_ok = true) {
    const auto e = session_op(c, client, id, op_of("get", session));
    REQUIRE(e.value("type", std::string()) == "session");
    CHECK(e.value("ok", !expect_ok) == expect_ok);
    CHECK(e.value("session", std::string()) == session);
    REQUIRE(e.contains("messages"));
    REQUIRE(e["messages"].is_array());
    message_list out;
    for (const auto& m : e["messages"]) {
        out.emplace_back(m.at("role").get<std::string>(), m.at("content").get<std::string>());
    }
    return out;
}

bridge_options with_config(const test_dir& dir, const std::string& yaml) {
    bridge_options o;
    o.config = dir.file("bridge.yaml");
    write_file(o.config, yaml);
    return o;
}

// The chat completion requests the mock received whose messages mention marker, oldest first.
std::vector<nlohmann::json> upstream_requests_with(const mock_llm& llm, const std::string& marker) {
    std::vector<nlohmann::json> out;
    for (const auto& r : llm.requests()) {
        if (r.is_object() && r.contains("messages") && r.dump().find(marker) != std::string::npos) {
            out.push_back(r);
        }
    }
    return out;
}

// `words` words: the marker, then "a a a ...". The mock counts one token per word, the bridge
// estimates (bytes + 2) / 3, so the bridge's estimate is lower than the server's count.
std::string a_words(const std::string& marker, int words) {
    std::string text = marker;
    for (int i = 1; i < words; ++i)
        text += " a";
    return text;
}

TEST_SUITE("sessions") {
    TEST_CASE("a session carries the conversation across requests, per client and session") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev1");
        c.subscribe_client("dev2");

        CHECK(ask(c, "dev1", "r1", "s1", "first") == "user:first");
        CHECK(ask(c, "dev1", "r2", "s1", "second") ==
              echo_all_of({{"user", "first"}, {"assistant", "user:first"}, {"user", "second"}}));
        const std::string third = ask(c, "dev1", "r3", "s1", "third");
        CHECK(third == echo_all_of({{"user", "first"},
                                    {"assistant", "user:first"},
                                    {"user", "second"},
                                    {"assistant", echo_all_of({{"user", "first"},
                                                               {"assistant", "user:first"},
                                                               {"user", "second"}})},
                                    {"user", "third"}}));

        // Another session, another client, and a request without a session start afresh.
        CHECK(ask(c, "dev1", "r4", "s2", "other session") == "user:other session");
        CHECK(ask(c, "dev2", "r5", "s1", "other client") == "user:other client");
        c.publish_request(
            "dev1", nlohmann::json{{"id", "r6"}, {"prompt", mock_prompt("echo_all", "alone")}});
        auto alone = c.collect("dev1", "r6", 10s);
        check_done(alone, "user:alone");
        CHECK_FALSE(alone.events.front().contains("session"));

        // The stored turns: the user messages as sent, the answers as streamed.
        const auto stored = get_messages(c, "dev1", "g1", "s1");
        REQUIRE(stored.size() == 6);
        CHECK(stored[0] == std::pair<std::string, std::string>{"user", "#mock echo_all\nfirst"});
        CHECK(stored[1] == std::pair<std::string, std::string>{"assistant", "user:first"});
        CHECK(stored[4] == std::pair<std::string, std::string>{"user", "#mock echo_all\nthird"});
        CHECK(stored[5] == std::pair<std::string, std::string>{"assistant", third});
    }

    TEST_CASE("session ops: get, set_system, clear, delete, and bad ops") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev1");

        CHECK(get_messages(c, "dev1", "g0", "s1", false).empty());
        ask(c, "dev1", "r1", "s1", "one");

        auto e = session_op(c, "dev1", "q1",
                            {{"op", "set_system"}, {"session", "s1"}, {"system", "be brief"}});
        CHECK(e.value("type", std::string()) == "session");
        CHECK(e.value("ok", false));
        CHECK(e.value("session", std::string()) == "s1");
        CHECK_FALSE(e.contains("messages"));
        CHECK(get_messages(c, "dev1", "g1", "s1") == message_list{{"system", "be brief"},
                                                                  {"user", "#mock echo_all\none"},
                                                                  {"assistant", "user:one"}});
        CHECK(ask(c, "dev1", "r2", "s1", "two") == echo_all_of({{"system", "be brief"},
                                                                {"user", "one"},
                                                                {"assistant", "user:one"},
                                                                {"user", "two"}}));

        // clear drops the turns and keeps the system text.
        e = session_op(c, "dev1", "q2", op_of("clear", "s1"));
        CHECK(e.value("type", std::string()) == "session");
        CHECK(e.value("ok", false));
        CHECK(get_messages(c, "dev1", "g2", "s1") == message_list{{"system", "be brief"}});
        CHECK(ask(c, "dev1", "r3", "s1", "three") ==
              echo_all_of({{"system", "be brief"}, {"user", "three"}}));

        // An empty system text removes the session's own.
        e = session_op(c, "dev1", "q3", {{"op", "set_system"}, {"session", "s1"}, {"system", ""}});
        CHECK(e.value("ok", false));
        CHECK(get_messages(c, "dev1", "g3", "s1").size() == 2);
        CHECK(ask(c, "dev1", "r4", "s1", "four") ==
              echo_all_of({{"user", "three"},
                           {"assistant", "system:be brief|user:three"},
                           {"user", "four"}}));

        // delete removes it; a second delete finds nothing.
        e = session_op(c, "dev1", "q4", op_of("delete", "s1"));
        CHECK(e.value("type", std::string()) == "session");
        CHECK(e.value("ok", false));
        CHECK(get_messages(c, "dev1", "g4", "s1", false).empty());
        e = session_op(c, "dev1", "q5", op_of("delete", "s1"));
        CHECK(e.value("type", std::string()) == "session");
        CHECK_FALSE(e.value("ok", true));
        e = session_op(c, "dev1", "q6", op_of("clear", "s1"));
        CHECK_FALSE(e.value("ok", true));
        CHECK(ask(c, "dev1", "r5", "s1", "five") == "user:five");

        // set_system on a new session creates it.
        e = session_op(c, "dev1", "q7",
                       {{"op", "set_system"}, {"session", "fresh"}, {"system", "sys"}});
        CHECK(e.value("ok", false));
        CHECK(ask(c, "dev1", "r6", "fresh", "hi") == "system:sys|user:hi");

        // Bad ops get one error event under their own id.
        e = session_op(c, "dev1", "b1", op_of("rename", "s1"));
        CHECK(e.value("type", std::string()) == "error");
        CHECK(e.value("code", std::string()) == "bad_request");
        CHECK(e.value("message", std::string()).find("\"op\"") != std::string::npos);
        e = session_op(c, "dev1", "b2", op_of("get", "a/b"));
        CHECK(e.value("code", std::string()) == "bad_request");
        e = session_op(c, "dev1", "b3", op_of("set_system", "s1"));
        CHECK(e.value("code", std::string()) == "bad_request");
        CHECK(e.value("message", std::string()).find("\"system\"") != std::string::npos);
        check_serving(c, "dev1", "after-bad-ops");
    }

    TEST_CASE("sessions survive a restart when a state directory is configured") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        const auto state = dir.path() / "state";
        // state_dir (default none: memory only) is what the test is about.
        const auto opts = with_config(dir, "sessions:\n  state_dir: " + state.string() + "\n");
        test_client c(mqtt.url());
        c.subscribe_client("dev1");
        std::string first;
        {
            bridge br(dir, mqtt, llm.url(), opts);
            first = ask(c, "dev1", "r1", "s1", "before the restart");
            CHECK(first == "user:before the restart");
            const auto e = session_op(
                c, "dev1", "q1", {{"op", "set_system"}, {"session", "s1"}, {"system", "kept"}});
            CHECK(e.value("ok", false));
            CHECK(br.proc().terminate() == 0);
        }
        CHECK(std::filesystem::is_regular_file(state / "sessions" / "llm" / "dev1" / "s1.json"));

        bridge br(dir, mqtt, llm.url(), opts);
        CHECK(ask(c, "dev1", "r2", "s1", "after it") == echo_all_of({{"system", "kept"},
                                                                     {"user", "before the restart"},
                                                                     {"assistant", first},
                                                                     {"user", "after it"}}));
        CHECK(get_messages(c, "dev1", "g1", "s1").size() == 5);  // system + two turns
    }

    TEST_CASE("idle sessions expire after ttl_s") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        // ttl_s: 1 (default a day): the expiry is what is tested.
        bridge br(dir, mqtt, llm.url(), with_config(dir, "sessions:\n  ttl_s: 1\n"));
        test_client c(mqtt.url());
        c.subscribe_client("dev1");

        CHECK(ask(c, "dev1", "r1", "s1", "soon forgotten") == "user:soon forgotten");
        REQUIRE_MESSAGE(br.proc().wait_stderr("expired 1 idle session", 10s),
                        "the bridge logged no expiry within 10 s");
        CHECK(get_messages(c, "dev1", "g1", "s1", false).empty());
        CHECK(ask(c, "dev1", "r2", "s1", "again") == "user:again");
    }

    TEST_CASE("a long history is trimmed to the context, newest turns kept") {
        // Each turn: a user message of 31 words and its echo. The stored user message is
        // counted by the mock's /tokenize (33 words with the directive, + 4), the answer by its
        // usage (47 pieces): 37 + 47 tokens per turn, while the mock counts 37 + 35. The new
        // message is estimated at 70 and 64 tokens are kept for the answer, so of a context of
        // 400 the newest 3 turns are sent (35 + 3 * 72 + 64 = 315 as the mock counts). All 6
        // turns, as the mock counts them, would take 35 + 6 * 72 + 64 = 531 tokens.
        test_dir dir;
        broker mqtt(dir);
        // A context of 400 tokens (default 4096) on both sides: six turns do not fit, three do.
        mock_llm llm(dir, {"--ctx", "400"});
        bridge br(dir, mqtt, llm.url(), with_config(dir, "sessions:\n  context_tokens: 400\n"));
        test_client c(mqtt.url());
        c.subscribe_client("dev1");
        const auto turn_text = [](int i) {
            std::string text = "turn" + std::to_string(i);
            for (int w = 0; w < 30; ++w)
                text += " lorem";
            return text;
        };
        for (int i = 1; i <= 7; ++i) {
            const std::string id = "r" + std::to_string(i);
            auto req = session_request(id, "s1", "echo", turn_text(i));
            req["max_tokens"] = 64;
            const std::size_t log_from = br.proc().stderr_size();
            c.publish_request("dev1", req);
            auto s = c.collect("dev1", id, 10s);
            check_done(s, turn_text(i));
            CHECK(s.count("status") == 0);  // the counts were enough: no retry
            REQUIRE_MESSAGE(br.proc().wait_stderr("user message counted by", 10s, log_from),
                            "turn ", i, ": the bridge logged no token count within 10 s");
        }
        const auto last = upstream_requests_with(llm, "turn7");
        REQUIRE(last.size() == 1);
        const auto& sent = last.front()["messages"];
        INFO(sent.dump());
        REQUIRE(sent.size() == 7);
        for (std::size_t i = 0; i < 7; ++i) {
            CHECK(sent[i]["role"] == (i % 2 == 0 ? "user" : "assistant"));
            if (i % 2 == 0) {
                const std::string turn = "turn" + std::to_string(4 + i / 2);
                CHECK(sent[i]["content"].get<std::string>().find(turn) != std::string::npos);
            }
        }

        // The whole stored history, sent as plain messages, is more than the server takes.
        const auto stored = get_messages(c, "dev1", "g1", "s1");
        REQUIRE(stored.size() == 14);
        nlohmann::json messages = nlohmann::json::array();
        for (const auto& [role, content] : stored) {
            messages.push_back({{"role", role}, {"content", content}});
        }
        messages.push_back({{"role", "user"}, {"content", mock_prompt("echo", "no session")}});
        c.publish_request("dev1", {{"id", "whole"}, {"messages", messages}, {"max_tokens", 64}});
        auto whole = c.collect("dev1", "whole", 10s);
        check_error(whole, "upstream_error");
        CHECK(whole.last().value("message", std::string()).find("context") != std::string::npos);
    }

    TEST_CASE("a stored user message is counted by the server, and the count trims history") {
        // The first turn: "t1 a a ..." (120 words) under "#mock echo piece=2000", answered in
        // one piece (stored as 1 completion token). The bridge estimates the stored user message
        // at (262 + 2) / 3 + 4 = 92 tokens; /tokenize counts 123 words, so 127 with the message
        // overhead. The next request ("next", estimated 11, 4 for the answer) in a context of
        // 135: with the estimate the turn would be sent (11 + 93 + 4 = 108), the mock would
        // refuse it (5 + 127 + 124 + 4 = 260 as it counts) and the bridge retry without history,
        // with a trimmed status; with the count (11 + 128 + 4 = 143) it is left out from the
        // start.
        test_dir dir;
        broker mqtt(dir);
        // A context of 135 tokens on both sides: see the arithmetic above.
        mock_llm llm(dir, {"--ctx", "135"});
        bridge br(dir, mqtt, llm.url(), with_config(dir, "sessions:\n  context_tokens: 135\n"));
        test_client c(mqtt.url());
        c.subscribe_client("dev1");

        const std::string first = a_words("t1", 120);
        auto req = session_request("r1", "s1", "echo piece=2000", first);
        req["max_tokens"] = 4;
        const std::size_t log_from = br.proc().stderr_size();
        c.publish_request("dev1", req);
        auto s1 = c.collect("dev1", "r1", 10s);
        check_done(s1, first);
        REQUIRE_MESSAGE(br.proc().wait_stderr("user message counted by", 10s, log_from),
                        "the bridge logged no token count within 10 s");
        CHECK(br.proc().stderr_text().find("127 tokens (estimated 92)") != std::string::npos);

        auto next = session_request("r2", "s1", "echo_all", "next");
        next["max_tokens"] = 4;
        c.publish_request("dev1", next);
        auto s2 = c.collect("dev1", "r2", 10s);
        check_done(s2, echo_all_of({{"user", "next"}}));
        CHECK(s2.count("status") == 0);                          // no trimmed retry
        CHECK(upstream_requests_with(llm, "next").size() == 1);  // sent once, without history
        // The turn is still stored: only the prompt left it out.
        const auto stored = get_messages(c, "dev1", "g1", "s1");
        REQUIRE(stored.size() == 4);
        CHECK(stored[0].second == mock_prompt("echo piece=2000", first));
    }

    TEST_CASE("a prompt the server still refuses is trimmed harder and retried once") {
        // "a a a ..." words: the mock counts about 1.5 times the bridge's estimate, and the
        // answers (echoes in one piece) are stored as 1 completion token each.
        test_dir dir;
        broker mqtt(dir);
        // A context of 300 tokens on both sides: small enough that the server refuses.
        mock_llm llm(dir, {"--ctx", "300"});
        bridge br(dir, mqtt, llm.url(), with_config(dir, "sessions:\n  context_tokens: 300\n"));
        test_client c(mqtt.url());
        c.subscribe_client("dev1");
        const auto send = [&](const std::string& id, const std::string& session,
                              const std::string& text) {
            auto req = session_request(id, session, "echo piece=2000", text);
            req["max_tokens"] = 4;
            c.publish_request("dev1", req);
            return c.collect("dev1", id, 10s);
        };

        // Two turns fit as the server counts them (about 65 + 2 * 133 + 4 > 300 with a third).
        for (const char* marker : {"t1", "t2"}) {
            auto s = send(marker, "s1", a_words(marker, 61));
            check_done(s, a_words(marker, 61));
            CHECK(s.count("status") == 0);
        }
        auto s3 = send("t3", "s1", a_words("t3", 61));
        check_done(s3, a_words("t3", 61));
        REQUIRE(s3.count("status") == 1);
        const auto* status = s3.first("status");
        CHECK(status->value("status", std::string()) == "trimmed");
        CHECK(status->value("dropped", 0) == 2);
        CHECK(status->value("seq", 0) == 1);  // right after start, before any chunk
        const auto tries = upstream_requests_with(llm, "t3 a");
        REQUIRE(tries.size() == 2);
        CHECK(tries[0]["messages"].size() == 5);  // refused: two turns of history
        CHECK(tries[1]["messages"].size() == 3);  // accepted: the newest turn only
        CHECK(tries[1]["messages"][0]["content"].get<std::string>().find("t2 a") !=
              std::string::npos);
        CHECK(get_messages(c, "dev1", "g1", "s1").size() == 6);  // the retried turn is stored

        // Only once: a message that alone exceeds the context (while its estimate leaves room
        // for one turn of history) is refused twice and ends with the server's error.
        auto u1 = send("u1", "s2", a_words("u1", 20));
        check_done(u1, a_words("u1", 20));
        auto u2 = send("u2", "s2", a_words("u2", 300));
        check_error(u2, "upstream_error");
        REQUIRE(u2.count("status") == 1);
        CHECK(u2.first("status")->value("dropped", 0) == 2);
        CHECK(upstream_requests_with(llm, "u2 a").size() == 2);
        CHECK(get_messages(c, "dev1", "g2", "s2").size() == 2);  // nothing stored on error
        check_serving(c, "dev1", "after-retries");
    }
}

}  // namespace
}  // namespace llmb::itest
