// The old deployment's message format on {project}/user_input.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "protocol/legacy.hpp"

namespace p = llmb::protocol;

namespace {
p::legacy_request decode(const std::string& payload) {
    return p::decode_legacy(payload, "maze", p::request_limits{}, "gen-1");
}
}  // namespace

TEST_CASE("an old-style message becomes a whole-mode request answered on assistant_response") {
    const auto r =
        decode(R"({"sessionId":"abc-1","message":"Hi","temperature":0.3,"topP":0.8,"maxTokens":64,)"
               R"("systemPrompt":"Be brief"})");
    REQUIRE(r.req);
    CHECK_FALSE(r.err);
    CHECK(r.reply_topic == "maze/assistant_response/abc-1");
    CHECK(r.session_id == "abc-1");
    const auto& q = *r.req;
    CHECK(q.id == "gen-1");
    CHECK(q.whole_mode());
    CHECK(q.session == std::optional<std::string>("abc-1"));
    REQUIRE(q.messages.size() == 2);
    CHECK(q.messages[0].role == "system");
    CHECK(nlohmann::json::parse(q.messages[0].raw_json)["content"] == "Be brief");
    CHECK(q.messages[1].role == "user");
    CHECK(q.messages[1].content == "Hi");
    CHECK(q.temperature == doctest::Approx(0.3));
    CHECK(q.top_p == doctest::Approx(0.8));
    CHECK(q.max_tokens == std::optional<std::uint32_t>(64));
}

TEST_CASE("replyTopic is honoured only under the project's assistant_response") {
    auto ok =
        decode(R"({"sessionId":"s","message":"x","replyTopic":"maze/assistant_response/a/b"})");
    REQUIRE(ok.req);
    CHECK(ok.reply_topic == "maze/assistant_response/a/b");

    for (const char* bad : {R"("other/assistant_response/x")", R"("maze/assistant_response/#")",
                            R"("maze/assistant_response/+/x")", R"("maze/assistant_response/")",
                            R"("maze/user_input")", "42"}) {
        CAPTURE(bad);
        auto r = decode(std::string(R"({"sessionId":"s","message":"x","replyTopic":)") + bad + "}");
        CHECK_FALSE(r.req);
        REQUIRE(r.err);
        CHECK(r.err->code == p::error_code::bad_request);
        CHECK(r.err->message.find("replyTopic") != std::string::npos);
        CHECK(r.reply_topic.empty());  // never answered on a topic it may not use
    }
}

TEST_CASE("bad old-style messages are refused with a message that names the field") {
    struct bad_case {
        const char* payload;
        const char* field;
    };
    for (const auto& c :
         {bad_case{"not json", "JSON"}, bad_case{"[1]", "JSON"},
          bad_case{R"({"message":"hi"})", "sessionId"}, bad_case{R"({"sessionId":"s"})", "message"},
          bad_case{R"({"sessionId":"s","message":""})", "message"},
          bad_case{R"({"sessionId":"s","message":"x","temperature":3})", "temperature"},
          bad_case{R"({"sessionId":"s","message":"x","topP":"a"})", "topP"},
          bad_case{R"({"sessionId":"s","message":"x","maxTokens":0})", "maxTokens"},
          bad_case{R"({"sessionId":"s","message":"x","systemPrompt":1})", "systemPrompt"}}) {
        CAPTURE(c.payload);
        const auto r = decode(c.payload);
        CHECK_FALSE(r.req);
        REQUIRE(r.err);
        CHECK(r.err->message.find(c.field) != std::string::npos);
    }
    // With a usable sessionId the error can still be answered.
    CHECK(decode(R"({"sessionId":"s","message":""})").reply_topic == "maze/assistant_response/s");
}

TEST_CASE("a sessionId that cannot be a topic level gets no reply topic and no session") {
    const auto r = decode(R"({"sessionId":"a/b+","message":"x"})");
    REQUIRE(r.req);
    CHECK(r.reply_topic.empty());
    CHECK_FALSE(r.req->session);
    // An empty sessionId is refused, and the refusal has no topic to go to: the bare
    // "maze/assistant_response/" is not a session's topic.
    const auto empty = decode(R"({"sessionId":"","message":"x"})");
    REQUIRE(empty.err);
    CHECK(empty.err->message.find("sessionId") != std::string::npos);
    CHECK(empty.reply_topic.empty());
    const auto big =
        p::decode_legacy(std::string(300 * 1024, ' '), "maze", p::request_limits{}, "g");
    REQUIRE(big.err);
    CHECK(big.err->code == p::error_code::too_large);
}
