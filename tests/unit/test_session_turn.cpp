// The prompt of a session request (daemon/sessions/session_turn.hpp): which system text, how much
// history, what a harder trim drops, and which upstream errors mean "context exceeded".
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "daemon/config/project_defaults.hpp"
#include "daemon/sessions/session_turn.hpp"

namespace {

using llmb::history_message;

llmb::session_key key() {
    return {"llm", "dev1", "s1"};
}

llmb::protocol::request request_of(std::vector<llmb::protocol::chat_message> messages) {
    llmb::protocol::request r;
    r.id = "r1";
    r.session = "s1";
    r.messages = std::move(messages);
    return r;
}

// n turns "u<i>"/"a<i>" whose content is `bytes` bytes long each.
std::vector<history_message> turns(std::size_t n, std::size_t bytes) {
    std::vector<history_message> h;
    for (std::size_t i = 0; i < n; ++i) {
        std::string u = "u" + std::to_string(i);
        std::string a = "a" + std::to_string(i);
        u.resize(bytes, 'x');
        a.resize(bytes, 'y');
        h.push_back({"user", u, 0});
        h.push_back({"assistant", a, 0});
    }
    return h;
}

std::vector<std::string> roles_and_contents(const std::vector<llmb::protocol::chat_message>& m) {
    std::vector<std::string> out;
    for (const auto& x : m)
        out.push_back(x.role + ":" + x.content.substr(0, 2));
    return out;
}

}  // namespace

TEST_CASE("system text: the session's own, else the request's first, else the project's") {
    const auto user = llmb::make_message("user", "hi");
    const auto sys1 = llmb::make_message("system", "request system");
    const auto sys2 = llmb::make_message("system", "second system");

    auto t = llmb::plan_turn(key(), std::string("session system"), {},
                             request_of({sys1, user, sys2}), "project system", 4096, 256);
    REQUIRE(t.system.has_value());
    CHECK(t.system->content == "session system");
    CHECK(t.system->raw_json == R"({"role":"system","content":"session system"})");
    CHECK(t.fresh.size() == 1);  // the request's system messages are not sent again

    t = llmb::plan_turn(key(), std::nullopt, {}, request_of({sys1, user, sys2}), "project system",
                        4096, 256);
    REQUIRE(t.system.has_value());
    CHECK(t.system->content == "request system");

    t = llmb::plan_turn(key(), std::nullopt, {}, request_of({user}), "project system", 4096, 256);
    REQUIRE(t.system.has_value());
    CHECK(t.system->content == "project system");
    CHECK(t.system_tokens == llmb::estimate_tokens("project system"));

    t = llmb::plan_turn(key(), std::nullopt, {}, request_of({user}), "", 4096, 256);
    CHECK_FALSE(t.system.has_value());
    CHECK(t.system_tokens == 0);
}

TEST_CASE("messages are system, the whole history when it fits, then the request's own") {
    const auto history = turns(3, 10);
    const auto t = llmb::plan_turn(key(), std::nullopt, history,
                                   request_of({llmb::make_message("user", "new question")}),
                                   "be brief", 4096, 256);
    CHECK(t.fits);
    CHECK(t.first_kept == 0);
    CHECK(llmb::kept_messages(t) == 6);
    REQUIRE(t.user_text.has_value());
    CHECK(*t.user_text == "new question");
    CHECK(roles_and_contents(llmb::turn_messages(t)) ==
          std::vector<std::string>{"system:be", "user:u0", "assistant:a0", "user:u1",
                                   "assistant:a1", "user:u2", "assistant:a2", "user:ne"});
}

TEST_CASE("a small context keeps the newest whole turns only") {
    // Each history message of 30 bytes is estimated (30 + 2) / 3 + 4 = 14 tokens.
    const auto history = turns(5, 30);
    const auto user = llmb::make_message("user", "q");  // (1 + 2) / 3 + 4 = 5 tokens
    // Budget for history: 200 - 5 - 100 = 95 tokens: 3 turns (84 tokens) fit, 4 (112) do not.
    const auto t = llmb::plan_turn(key(), std::nullopt, history, request_of({user}), "", 200, 100);
    CHECK(t.fits);
    CHECK(t.first_kept == 4);
    const auto sent = llmb::turn_messages(t);
    REQUIRE(sent.size() == 7);
    CHECK(sent.front().content.substr(0, 2) == "u2");
    CHECK(sent[1].role == "assistant");
    CHECK(sent.back().content == "q");
}

TEST_CASE("when the request alone does not fit, no history is sent") {
    const auto history = turns(2, 10);
    const auto t = llmb::plan_turn(key(), std::nullopt, history,
                                   request_of({llmb::make_message("user", std::string(900, 'q'))}),
                                   "", 256, 64);
    CHECK_FALSE(t.fits);
    CHECK(llmb::kept_messages(t) == 0);
    CHECK(llmb::turn_messages(t).size() == 1);
}

TEST_CASE("a harder trim drops at least one more turn, once, and reports how many messages") {
    const auto history = turns(4, 30);
    const auto user = llmb::make_message("user", "q");
    auto t = llmb::plan_turn(key(), std::nullopt, history, request_of({user}), "", 4096, 100);
    REQUIRE(t.first_kept == 0);
    // At most half of the 8 * 14 history tokens: the newest 2 turns.
    CHECK(llmb::trim_turn_harder(t) == 4);
    CHECK(t.retried);
    CHECK(t.first_kept == 4);
    CHECK(llmb::turn_messages(t).size() == 5);
    CHECK(llmb::trim_turn_harder(t) == 2);
    CHECK(llmb::trim_turn_harder(t) == 2);
    CHECK(llmb::kept_messages(t) == 0);
    CHECK(llmb::trim_turn_harder(t) == 0);  // nothing left to drop

    auto empty = llmb::plan_turn(key(), std::nullopt, {}, request_of({user}), "", 4096, 100);
    CHECK(llmb::trim_turn_harder(empty) == 0);
}

TEST_CASE("the last user message is what the session stores") {
    const auto t = llmb::plan_turn(
        key(), std::nullopt, {},
        request_of({llmb::make_message("user", "first"), llmb::make_message("assistant", "ok"),
                    llmb::make_message("user", "second")}),
        "", 4096, 100);
    REQUIRE(t.user_text.has_value());
    CHECK(*t.user_text == "second");
    CHECK(t.fresh.size() == 3);

    const auto none =
        llmb::plan_turn(key(), std::nullopt, {},
                        request_of({llmb::make_message("assistant", "only")}), "", 4096, 100);
    CHECK_FALSE(none.user_text.has_value());
}

TEST_CASE("context_exceeded knows the servers' error bodies") {
    // llama-server, byte for byte.
    CHECK(llmb::context_exceeded(
        400, R"({"error":{"code":400,"message":"request (9000 tokens) exceeds the available )"
             R"(context size (4096 tokens), try increasing it","type":"exceed_context_size_error",)"
             R"("n_prompt_tokens":9000,"n_ctx":4096}})"));
    // OpenAI.
    CHECK(llmb::context_exceeded(
        400, R"({"error":{"message":"too many tokens","type":"invalid_request_error",)"
             R"("code":"context_length_exceeded"}})"));
    // vLLM.
    CHECK(llmb::context_exceeded(
        400, R"({"object":"error","message":"This model's maximum context length is 2048 tokens.)"
             R"( However, you requested 3000 tokens.","type":"BadRequestError","code":400})"));
    CHECK(llmb::context_exceeded(400, R"({"error":"the prompt exceeds the Context window"})"));
    CHECK(llmb::context_exceeded(400, "prompt is longer than the context"));

    CHECK_FALSE(llmb::context_exceeded(
        400,
        R"({"error":{"code":400,"message":"invalid temperature","type":"invalid_request_error"}})"));
    CHECK_FALSE(llmb::context_exceeded(
        500, R"({"error":{"code":500,"message":"x","type":"exceed_context_size_error"}})"));
    CHECK_FALSE(llmb::context_exceeded(400, ""));
}
