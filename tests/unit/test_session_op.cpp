// Decoding and validation of session operations (protocol/session_op.hpp).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "protocol/session_op.hpp"

namespace p = llmb::protocol;
using nlohmann::json;

namespace {

constexpr std::string_view gen_id = "gen-7";

void check_bad(std::string_view payload, std::string_view mention, bool own_id) {
    INFO("payload: " << payload);
    const auto d = p::decode_session_op(payload, gen_id);
    REQUIRE(d.err.has_value());
    CHECK_FALSE(d.op.has_value());
    CHECK(d.err->code == p::error_code::bad_request);
    INFO("message: " << d.err->message);
    CHECK(d.err->message.find(mention) != std::string::npos);
    CHECK(d.id == (own_id ? std::string("q1") : std::string(gen_id)));
    CHECK(d.id_generated == !own_id);
}

}  // namespace

TEST_CASE("each op decodes with its fields") {
    struct good {
        const char* payload;
        p::session_op_kind op;
        const char* wire;
    };
    const good cases[] = {
        {R"({"id":"q1","op":"get","session":"s1"})", p::session_op_kind::get, "get"},
        {R"({"id":"q1","op":"clear","session":"s1"})", p::session_op_kind::clear, "clear"},
        {R"({"id":"q1","op":"delete","session":"s1"})", p::session_op_kind::erase, "delete"},
        {R"({"id":"q1","op":"set_system","session":"s1","system":"be brief"})",
         p::session_op_kind::set_system, "set_system"},
    };
    for (const auto& c : cases) {
        INFO(c.payload);
        const auto d = p::decode_session_op(c.payload, gen_id);
        REQUIRE_FALSE(d.err.has_value());
        REQUIRE(d.op.has_value());
        CHECK(d.id == "q1");
        CHECK_FALSE(d.id_generated);
        CHECK(d.op->id == "q1");
        CHECK(d.op->op == c.op);
        CHECK(p::to_string(d.op->op) == c.wire);
        CHECK(d.op->session == "s1");
        CHECK(d.op->system.has_value() == (c.op == p::session_op_kind::set_system));
    }
}

TEST_CASE("set_system keeps the text as sent, empty included") {
    const std::string text = "Réponds en français.\n\"quoted\" \\ tab\t✓";
    const json j = {{"id", "q1"}, {"op", "set_system"}, {"session", "s.1-_"}, {"system", text}};
    const auto d = p::decode_session_op(j.dump(), gen_id);
    REQUIRE(d.op.has_value());
    CHECK(d.op->session == "s.1-_");
    CHECK(d.op->system == text);

    const auto empty =
        p::decode_session_op(R"({"op":"set_system","session":"s","system":""})", gen_id);
    REQUIRE(empty.op.has_value());
    CHECK(empty.op->system == std::string());
}

TEST_CASE("a missing id is generated; null fields count as absent; unknown fields are ignored") {
    const auto d =
        p::decode_session_op(R"({"op":"get","session":"s1","id":null,"extra":[1,{}]})", gen_id);
    REQUIRE(d.op.has_value());
    CHECK(d.id == gen_id);
    CHECK(d.id_generated);
    CHECK(d.op->id == gen_id);
    CHECK(d.op->id_generated);
    const auto n = p::decode_session_op(R"({"op":"clear","session":"s1","system":null})", gen_id);
    CHECK(n.op.has_value());
}

TEST_CASE("malformed session ops are refused with a precise bad_request") {
    // Before the id is read: reported under the generated id.
    check_bad("", "not valid JSON", false);
    check_bad("{\"id\":\"q1\",", "not valid JSON", false);
    check_bad("[1,2]", "must be a JSON object, not an array", false);
    check_bad("\"get\"", "must be a JSON object, not a string", false);
    check_bad("{\"id\":\"q1\",\"op\":\"get\",\"session\":\"\xff\"}", "not valid UTF-8", false);
    check_bad(R"({"id":"bad id","op":"get","session":"s1"})", "\"id\" must be", false);
    check_bad(R"({"id":7,"op":"get","session":"s1"})", "not a number", false);
    check_bad(std::string(200, '[') + std::string(200, ']'), "nested deeper", false);
    // After it: under the op's own id.
    check_bad(R"({"id":"q1","session":"s1"})", "needs \"op\"", true);
    check_bad(R"({"id":"q1","op":"list","session":"s1"})", "\"op\" must be", true);
    check_bad(R"({"id":"q1","op":"GET","session":"s1"})", "\"op\" must be", true);
    check_bad(R"({"id":"q1","op":1,"session":"s1"})", "not a number", true);
    check_bad(R"({"id":"q1","op":"get"})", "needs \"session\"", true);
    check_bad(R"({"id":"q1","op":"get","session":"a/b"})", "\"session\" must be", true);
    check_bad(R"({"id":"q1","op":"get","session":""})", "\"session\" must be", true);
    check_bad(R"({"id":"q1","op":"get","session":["s1"]})", "not an array", true);
    check_bad(R"({"id":"q1","op":"set_system","session":"s1"})", "needs \"system\"", true);
    check_bad(R"({"id":"q1","op":"set_system","session":"s1","system":5})",
              "\"system\" must be a string", true);
    check_bad(R"({"id":"q1","op":"get","session":"s1","system":"x"})",
              "\"system\" belongs to op \"set_system\" only", true);
    check_bad(R"({"id":"q1","op":"delete","session":"s1","system":""})", "not \"delete\"", true);
}

TEST_CASE("a session name of 64 characters is allowed, 65 are not") {
    const std::string ok(64, 'a');
    const auto d = p::decode_session_op(R"({"op":"get","session":")" + ok + "\"}", gen_id);
    REQUIRE(d.op.has_value());
    CHECK(d.op->session == ok);
    const auto bad =
        p::decode_session_op(R"({"op":"get","session":")" + std::string(65, 'a') + "\"}", gen_id);
    CHECK(bad.err.has_value());
}

TEST_CASE("size limits: the system text and the whole payload") {
    const auto with_system = [](std::size_t n) {
        return json{
            {"id", "q1"}, {"op", "set_system"}, {"session", "s1"}, {"system", std::string(n, 'x')}}
            .dump();
    };
    const auto at_limit = p::decode_session_op(with_system(p::max_session_system_bytes), gen_id);
    REQUIRE(at_limit.op.has_value());
    CHECK(at_limit.op->system->size() == p::max_session_system_bytes);
    check_bad(with_system(p::max_session_system_bytes + 1), "more than the limit", true);

    const std::string padded = R"({"id":"q1","op":"get","session":"s1","pad":")" +
                               std::string(p::max_session_op_bytes, ' ') + "\"}";
    check_bad(padded, "more than the limit", false);
}
