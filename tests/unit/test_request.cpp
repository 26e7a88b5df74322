// Decoding and validation of device requests and cancels.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/request.hpp"

namespace p = llmb::protocol;
using nlohmann::json;

namespace {

constexpr std::string_view gen_id = "gen-1";

p::decoded_request decode(std::string_view payload, const p::request_limits& limits = {}) {
    return p::decode_request(payload, limits, gen_id);
}

struct bad_case {
    const char* payload;
    p::error_code code;
    const char* mention;  // the message must contain this (the offending field)
};

void check_bad(const bad_case& c, const p::request_limits& limits = {}) {
    INFO("payload: " << c.payload);
    const auto d = decode(c.payload, limits);
    REQUIRE(d.err.has_value());
    CHECK_FALSE(d.req.has_value());
    CHECK(p::to_string(d.err->code) == p::to_string(c.code));
    INFO("message: " << d.err->message);
    CHECK(d.err->message.find(c.mention) != std::string::npos);
}

const char* const user_hi = R"({"role":"user","content":"hi"})";

std::string with_user(const std::string& fields) {
    return std::string(R"({"id":"r1","messages":[)") + user_hi + "]," + fields + "}";
}

}  // namespace

TEST_CASE("valid_name accepts [A-Za-z0-9_.-]{1,64} only") {
    CHECK(p::valid_name("r1"));
    CHECK(p::valid_name("A-z_0.9"));
    CHECK(p::valid_name(std::string(64, 'x')));
    CHECK_FALSE(p::valid_name(""));
    CHECK_FALSE(p::valid_name(std::string(65, 'x')));
    CHECK_FALSE(p::valid_name("a b"));
    CHECK_FALSE(p::valid_name("a/b"));
    CHECK_FALSE(p::valid_name("+"));
    CHECK_FALSE(p::valid_name("#"));
    CHECK_FALSE(p::valid_name("caf\xC3\xA9"));
}

TEST_CASE("malformed requests are refused with a precise bad_request") {
    using enum p::error_code;
    const std::vector<bad_case> cases = {
        {"not json", bad_request, "not valid JSON"},
        {"", bad_request, "not valid JSON"},
        {R"({"prompt":"hi")", bad_request, "not valid JSON"},
        {"[1,2]", bad_request, "must be a JSON object"},
        {R"("hi")", bad_request, "must be a JSON object"},
        {"{\"prompt\":\"caf\xE9\"}", bad_request, "UTF-8"},
        {R"({"id":"r 1","prompt":"hi"})", bad_request, R"("id")"},
        {R"({"id":7,"prompt":"hi"})", bad_request, R"("id")"},
        {R"({"id":"","prompt":"hi"})", bad_request, R"("id")"},
        {R"({"id":"r1"})", bad_request, R"("messages")"},
        {R"({"id":"r1","prompt":"a","messages":[{"role":"user","content":"b"}]})", bad_request,
         "both"},
        {R"({"prompt":""})", bad_request, R"("prompt")"},
        {R"({"prompt":5})", bad_request, R"("prompt")"},
        {R"({"messages":{"role":"user"}})", bad_request, R"("messages")"},
        {R"({"messages":[]})", bad_request, R"("messages")"},
        {R"({"messages":[1]})", bad_request, R"("messages[0]")"},
        {R"({"messages":[{"content":"hi"}]})", bad_request, R"("messages[0].role")"},
        {R"({"messages":[{"role":"robot","content":"hi"}]})", bad_request, R"("messages[0].role")"},
        {R"({"messages":[{"role":"user","content":5}]})", bad_request, R"("messages[0].content")"},
        {R"({"messages":[{"role":"user","content":null}]})", bad_request,
         R"("messages[0].content")"},
        {R"({"messages":[{"role":"user","content":"q"},{"role":"tool","content":"42"}]})",
         bad_request, R"("messages[1].tool_call_id")"},
        {R"({"messages":[{"role":"assistant","content":null,"tool_calls":{}}]})", bad_request,
         R"("messages[0].tool_calls")"},
        {R"({"messages":[{"role":"user","content":["hi"]}]})", bad_request,
         R"("messages[0].content[0]")"},
        {R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})", bad_request,
         R"("messages[0].content[0].type")"},
        {R"({"messages":[{"role":"user","content":[{"type":"text","text":3}]}]})", bad_request,
         R"("messages[0].content[0].text")"},
        {R"({"messages":[{"role":"system","content":""},{"role":"user","content":""}]})",
         bad_request, R"("content")"},
        {R"({"prompt":"hi","session":"a/b"})", bad_request, R"("session")"},
        {R"({"prompt":"hi","model":""})", bad_request, R"("model")"},
        {R"({"prompt":"hi","model":"a\u0001b"})", bad_request, R"("model")"},
        {R"({"prompt":"hi","temperature":"0.5"})", bad_request, R"("temperature")"},
        {R"({"prompt":"hi","temperature":2.5})", bad_request, R"("temperature")"},
        {R"({"prompt":"hi","temperature":-0.1})", bad_request, R"("temperature")"},
        {R"({"prompt":"hi","top_p":1.5})", bad_request, R"("top_p")"},
        {R"({"prompt":"hi","top_p":true})", bad_request, R"("top_p")"},
        {R"({"prompt":"hi","max_tokens":1.5})", bad_request, R"("max_tokens")"},
        {R"({"prompt":"hi","max_tokens":0})", bad_request, R"("max_tokens")"},
        {R"({"prompt":"hi","max_tokens":-3})", bad_request, R"("max_tokens")"},
        {R"({"prompt":"hi","max_tokens":"10"})", bad_request, R"("max_tokens")"},
        {R"({"prompt":"hi","stop":5})", bad_request, R"("stop")"},
        {R"({"prompt":"hi","stop":""})", bad_request, R"("stop")"},
        {R"({"prompt":"hi","stop":["a",""]})", bad_request, R"("stop[1]")"},
        {R"({"prompt":"hi","stop":[1]})", bad_request, R"("stop[0]")"},
        {R"({"prompt":"hi","stop":["1","2","3","4","5","6","7","8","9"]})", bad_request,
         R"("stop")"},
        {R"({"prompt":"hi","seed":1.5})", bad_request, R"("seed")"},
        {R"({"prompt":"hi","seed":"1"})", bad_request, R"("seed")"},
        {R"({"prompt":"hi","seed":9223372036854775808})", bad_request, R"("seed")"},
        {R"({"prompt":"hi","tools":{}})", bad_request, R"("tools")"},
        {R"({"prompt":"hi","tools":[1]})", bad_request, R"("tools[0]")"},
        {R"({"prompt":"hi","tools":[{"type":"code","function":{"name":"f"}}]})", bad_request,
         R"("tools[0].type")"},
        {R"({"prompt":"hi","tools":[{"type":"function"}]})", bad_request, R"("tools[0].function")"},
        {R"({"prompt":"hi","tools":[{"type":"function","function":{"name":""}}]})", bad_request,
         R"("tools[0].function.name")"},
        {R"({"prompt":"hi","tool_choice":"sometimes"})", bad_request, R"("tool_choice")"},
        {R"({"prompt":"hi","tool_choice":3})", bad_request, R"("tool_choice")"},
        {R"({"prompt":"hi","stream":"yes"})", bad_request, R"("stream")"},
        {R"({"prompt":"hi","stream":1})", bad_request, R"("stream")"},
        {R"({"prompt":"hi","max_packet":64})", bad_request, R"("max_packet")"},
        {R"({"prompt":"hi","max_packet":268435456})", bad_request, R"("max_packet")"},
        {R"({"prompt":"hi","max_packet":200.5})", bad_request, R"("max_packet")"},
        {R"({"prompt":"hi","flush_ms":-1})", bad_request, R"("flush_ms")"},
        {R"({"prompt":"hi","flush_ms":10001})", bad_request, R"("flush_ms")"},
        {R"({"prompt":"hi","flush_ms":"5"})", bad_request, R"("flush_ms")"},
        {R"({"prompt":"hi","max_tokens":40000})", too_large, R"("max_tokens")"},
        {R"({"prompt":"hi","max_tokens":1e30})", too_large, R"("max_tokens")"},
    };
    CHECK(cases.size() >= 30);
    for (const auto& c : cases) {
        check_bad(c);
    }
}

TEST_CASE("a model name longer than 256 bytes is refused") {
    const std::string ok = R"({"prompt":"hi","model":")" + std::string(256, 'm') + "\"}";
    CHECK(decode(ok).req.has_value());
    const std::string too_long = R"({"prompt":"hi","model":")" + std::string(257, 'm') + "\"}";
    check_bad({too_long.c_str(), p::error_code::bad_request, R"("model")"});
}

TEST_CASE("more messages than the limit is too_large") {
    p::request_limits limits;
    limits.max_messages = 3;
    std::string three = R"({"messages":[)";
    for (int i = 0; i < 3; ++i) {
        three += std::string(user_hi) + ",";
    }
    three.back() = ']';
    CHECK(decode(three + "}", limits).req.has_value());
    const std::string four = three.substr(0, three.size() - 1) + "," + user_hi + "]}";
    check_bad({four.c_str(), p::error_code::too_large, R"("messages")"}, limits);
}

TEST_CASE("JSON nested deeper than the decoder accepts is refused, not recursed into") {
    const std::string deep =
        R"({"prompt":"hi","x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
    check_bad({deep.c_str(), p::error_code::bad_request, "nested"});
    // Brackets inside strings are text, not nesting.
    const std::string text = R"({"prompt":")" + std::string(1000, '[') + "\"}";
    CHECK(decode(text).req.has_value());
}

TEST_CASE("errors are reported under the request's id once a valid id was read") {
    auto d = decode(R"({"id":"r1","prompt":"hi","temperature":9})");
    REQUIRE(d.err.has_value());
    CHECK(d.id == "r1");
    CHECK_FALSE(d.id_generated);

    d = decode(R"({"id":"no spaces","prompt":"hi"})");
    REQUIRE(d.err.has_value());
    CHECK(d.id == gen_id);
    CHECK(d.id_generated);

    d = decode("{{{{");
    REQUIRE(d.err.has_value());
    CHECK(d.id == gen_id);
    CHECK(d.id_generated);
}

TEST_CASE("payload size: exactly max_request_bytes passes, one byte more is too_large") {
    for (const std::size_t limit : {std::size_t{1000}, p::request_limits{}.max_request_bytes}) {
        p::request_limits limits;
        limits.max_request_bytes = limit;
        const std::string head = R"({"id":"r1","prompt":")";
        const std::string at_limit = head + std::string(limit - head.size() - 2, 'a') + "\"}";
        REQUIRE(at_limit.size() == limit);
        const auto ok = decode(at_limit, limits);
        REQUIRE(ok.req.has_value());
        CHECK(ok.req->messages[0].content.size() == limit - head.size() - 2);

        const std::string over = head + std::string(limit - head.size() - 1, 'a') + "\"}";
        REQUIRE(over.size() == limit + 1);
        const auto bad = decode(over, limits);
        REQUIRE(bad.err.has_value());
        CHECK(bad.err->code == p::error_code::too_large);
        CHECK(bad.err->message.find(std::to_string(limit + 1)) != std::string::npos);
        CHECK(bad.err->message.find(std::to_string(limit)) != std::string::npos);
        // Checked before parsing: the id inside is not used.
        CHECK(bad.id == gen_id);
        CHECK(bad.id_generated);
    }
}

TEST_CASE("prompt shorthand becomes one user message and the id is generated when absent") {
    const auto d = decode(R"({"prompt":"Hi there"})");
    REQUIRE(d.req.has_value());
    CHECK_FALSE(d.err.has_value());
    CHECK(d.id == gen_id);
    CHECK(d.id_generated);
    const auto& r = *d.req;
    CHECK(r.id == gen_id);
    CHECK(r.id_generated);
    REQUIRE(r.messages.size() == 1);
    CHECK(r.messages[0].role == "user");
    CHECK(r.messages[0].content == "Hi there");
    CHECK(r.messages[0].raw_json == R"({"role":"user","content":"Hi there"})");
    CHECK(r.stream);
    CHECK_FALSE(r.whole_mode());
    CHECK_FALSE(r.session.has_value());
    CHECK_FALSE(r.model.has_value());
    CHECK_FALSE(r.temperature.has_value());
    CHECK_FALSE(r.max_tokens.has_value());
    CHECK_FALSE(r.max_packet.has_value());
    CHECK(r.flush_ms == 0);
    CHECK(r.stop.empty());
    CHECK(r.tools_json.empty());
    CHECK(r.tool_choice_json.empty());
}

TEST_CASE("a full request decodes every field") {
    const auto d = decode(with_user(
        R"("session":"s.1","model":"qwen","temperature":0.7,"top_p":0.9,"max_tokens":256,)"
        R"("stop":["\n\n","END"],"seed":-9223372036854775808,"stream":true,"max_packet":128,)"
        R"("flush_ms":10000,"unknown":{"x":[1,2]})"));
    REQUIRE(d.req.has_value());
    const auto& r = *d.req;
    CHECK(d.id == "r1");
    CHECK_FALSE(d.id_generated);
    CHECK(r.id == "r1");
    CHECK(r.session == "s.1");
    CHECK(r.model == "qwen");
    CHECK(r.temperature == 0.7);
    CHECK(r.top_p == 0.9);
    CHECK(r.max_tokens == 256u);
    CHECK(r.stop == std::vector<std::string>{"\n\n", "END"});
    CHECK(r.seed == INT64_MIN);
    CHECK(r.max_packet == 128u);
    CHECK(r.flush_ms == 10000u);
    CHECK_FALSE(r.whole_mode());
}

TEST_CASE("range boundaries and integral numbers") {
    const auto d = decode(
        with_user(R"("temperature":2,"top_p":0,"max_tokens":256.0,"seed":9223372036854775807,)"
                  R"("max_packet":268435455,"flush_ms":0,"stop":"x")"));
    REQUIRE(d.req.has_value());
    CHECK(d.req->temperature == 2.0);
    CHECK(d.req->top_p == 0.0);
    CHECK(d.req->max_tokens == 256u);
    CHECK(d.req->seed == INT64_MAX);
    CHECK(d.req->max_packet == 268435455u);
    CHECK(d.req->stop == std::vector<std::string>{"x"});

    const auto at_limit = decode(with_user(R"("max_tokens":32768)"));
    REQUIRE(at_limit.req.has_value());
    CHECK(at_limit.req->max_tokens == 32768u);
}

TEST_CASE("null fields count as absent and unknown fields are ignored") {
    const auto d =
        decode(R"({"id":null,"prompt":"hi","messages":null,"session":null,"temperature":null,)"
               R"("stream":null,"tools":null,"stop":null,"max_packet":null,"frobnicate":true})");
    REQUIRE(d.req.has_value());
    CHECK(d.id_generated);
    CHECK(d.req->stream);
    CHECK_FALSE(d.req->temperature.has_value());
    CHECK(d.req->tools_json.empty());
}

TEST_CASE("messages with content parts join their texts") {
    const json msg = {
        {"role", "user"},
        {"content",
         {{{"type", "text"}, {"text", "Describe"}},
          {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AA"}}}},
          {{"type", "text"}, {"text", "briefly"}}}}};
    const json body = {{"messages", {{{"role", "system"}, {"content", "Be terse."}}, msg}}};
    const auto d = decode(body.dump());
    REQUIRE(d.req.has_value());
    REQUIRE(d.req->messages.size() == 2);
    CHECK(d.req->messages[0].role == "system");
    CHECK(d.req->messages[0].content == "Be terse.");
    CHECK(d.req->messages[1].content == "Describe\nbriefly");
    CHECK(json::parse(d.req->messages[1].raw_json) == msg);
}

TEST_CASE("a message with only a non-text part has content") {
    const auto d = decode(
        R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]}]})");
    REQUIRE(d.req.has_value());
    CHECK(d.req->messages[0].content.empty());
}

TEST_CASE("a tool conversation: null content with tool_calls, tool results, any last role") {
    const json body = {
        {"messages",
         {{{"role", "user"}, {"content", "Weather in Paris?"}},
          {{"role", "assistant"},
           {"content", nullptr},
           {"tool_calls",
            {{{"id", "c1"},
              {"type", "function"},
              {"function", {{"name", "get_weather"}, {"arguments", R"({"city":"Paris"})"}}}}}}},
          {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "18C"}},
          {{"role", "tool"}, {"tool_call_id", "c2"}, {"content", nullptr}}}}};
    const auto d = decode(body.dump());
    REQUIRE(d.req.has_value());
    REQUIRE(d.req->messages.size() == 4);
    CHECK(d.req->messages[1].content.empty());
    CHECK(json::parse(d.req->messages[1].raw_json) == body["messages"][1]);
    CHECK(d.req->messages[3].role == "tool");
}

TEST_CASE("tools select whole mode; an empty tools array means none") {
    const json tools = json::parse(
        R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",)"
        R"("properties":{"city":{"type":"string"}},"required":["city"]}}}])");
    json body = {{"prompt", "hi"}, {"tools", tools}, {"tool_choice", "required"}};
    auto d = decode(body.dump());
    REQUIRE(d.req.has_value());
    CHECK(d.req->whole_mode());
    CHECK(json::parse(d.req->tools_json) == tools);
    CHECK(d.req->tool_choice_json == R"("required")");

    body["tools"] = json::array();
    body["tool_choice"] = {{"type", "function"}, {"function", {{"name", "f"}}}};
    d = decode(body.dump());
    REQUIRE(d.req.has_value());
    CHECK(d.req->tools_json.empty());
    CHECK_FALSE(d.req->whole_mode());
    CHECK(json::parse(d.req->tool_choice_json) == body["tool_choice"]);
}

TEST_CASE("stream:false selects whole mode") {
    auto d = decode(R"({"prompt":"hi","stream":false})");
    REQUIRE(d.req.has_value());
    CHECK_FALSE(d.req->stream);
    CHECK(d.req->whole_mode());
    d = decode(R"({"prompt":"hi","stream":true})");
    REQUIRE(d.req.has_value());
    CHECK_FALSE(d.req->whole_mode());
}

TEST_CASE("unicode content survives byte for byte, escaped or not") {
    const std::string text =
        "Gr\xC3\xBC\xC3\x9F"
        "e \xF0\x9F\x98\x80 \xE6\x97\xA5\xE6\x9C\xAC";
    auto d = decode(R"({"prompt":")" + text + "\"}");
    REQUIRE(d.req.has_value());
    CHECK(d.req->messages[0].content == text);
    CHECK(d.req->messages[0].raw_json.find(text) != std::string::npos);

    d = decode(R"({"messages":[{"role":"user","content":"Gr\u00fc\u00dfe \ud83d\ude00"}]})");
    REQUIRE(d.req.has_value());
    CHECK(d.req->messages[0].content ==
          "Gr\xC3\xBC\xC3\x9F"
          "e \xF0\x9F\x98\x80");
    // A lone surrogate escape is not a character.
    CHECK(decode(R"({"prompt":"\ud83d"})").err.has_value());
}

TEST_CASE("decode_cancel") {
    auto c = p::decode_cancel(R"({"id":"r1"})");
    REQUIRE(c.id.has_value());
    CHECK(*c.id == "r1");
    CHECK_FALSE(c.err.has_value());

    c = p::decode_cancel(R"({"id":"r1","reason":"user pressed stop"})");
    REQUIRE(c.id.has_value());
    CHECK(*c.id == "r1");

    const std::vector<std::pair<const char*, const char*>> bad = {
        {"", "not valid JSON"},
        {"r1", "not valid JSON"},
        {R"(["r1"])", "must be a JSON object"},
        {"{}", R"("id")"},
        {R"({"id":null})", R"("id")"},
        {R"({"id":1})", R"("id")"},
        {R"({"id":"a b"})", R"("id")"},
        {"{\"id\":\"\xFF\"}", "UTF-8"},
    };
    for (const auto& [payload, mention] : bad) {
        INFO("payload: " << payload);
        c = p::decode_cancel(payload);
        REQUIRE(c.err.has_value());
        CHECK_FALSE(c.id.has_value());
        CHECK(c.err->code == p::error_code::bad_request);
        INFO("message: " << c.err->message);
        CHECK(c.err->message.find(mention) != std::string::npos);
    }
    const std::string huge = R"({"id":"r1","pad":")" + std::string(70000, 'x') + "\"}";
    CHECK(p::decode_cancel(huge).err.has_value());
}

namespace {

// Checks the decoders' contract on one arbitrary payload.
void check_total(std::string_view payload, const p::request_limits& limits) {
    p::decoded_request d;
    REQUIRE_NOTHROW(d = p::decode_request(payload, limits, gen_id));
    REQUIRE(d.req.has_value() != d.err.has_value());
    REQUIRE(p::valid_name(d.id));
    if (d.err) {
        REQUIRE(
            (d.err->code == p::error_code::bad_request || d.err->code == p::error_code::too_large));
        REQUIRE_FALSE(d.err->message.empty());
    } else {
        REQUIRE_FALSE(d.req->messages.empty());
        REQUIRE(d.req->id == d.id);
        for (const auto& m : d.req->messages) {
            REQUIRE(json::parse(m.raw_json).is_object());
        }
    }
    p::decoded_cancel c;
    REQUIRE_NOTHROW(c = p::decode_cancel(payload));
    REQUIRE(c.id.has_value() != c.err.has_value());
}

}  // namespace

TEST_CASE("random bytes and mutated requests never throw and give exactly one result") {
    std::mt19937 rng(20240611);
    p::request_limits limits;
    limits.max_request_bytes = 600;  // so that some mutations cross the limit
    auto below = [&rng](std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };

    const std::string valid =
        R"({"id":"r1","messages":[{"role":"system","content":"Be terse."},)"
        R"({"role":"user","content":[{"type":"text","text":"Gr\u00fc\u00dfe \ud83d\ude00"}]},)"
        R"({"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function"}]},)"
        R"({"role":"tool","tool_call_id":"c","content":"18"}],"session":"s1","model":"m",)"
        R"("temperature":0.7,"top_p":1,"max_tokens":256,"stop":["\n"],"seed":-1,)"
        R"("tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto",)"
        R"("stream":true,"max_packet":256,"flush_ms":20})";
    check_total(valid, limits);
    REQUIRE(decode(valid, limits).req.has_value());

    const std::string alphabet = "{}[]\":,\\ 0123456789.-+eEtruefalsnl\x80\xC3\xBF\xF0";
    std::size_t accepted = 0;
    for (int i = 0; i < 4000; ++i) {
        std::string s(below(120), '\0');
        for (auto& ch : s) {
            ch = static_cast<char>(below(256));
        }
        check_total(s, limits);
        for (auto& ch : s) {
            ch = alphabet[below(alphabet.size())];
        }
        check_total(s, limits);
    }
    for (int i = 0; i < 6000; ++i) {
        std::string s = valid;
        const std::size_t edits = 1 + below(4);
        for (std::size_t e = 0; e < edits; ++e) {
            const std::size_t pos = below(s.size());
            switch (below(5)) {
                case 0:  // replace a byte
                    s[pos] = static_cast<char>(below(256));
                    break;
                case 1:  // insert a JSON-ish byte
                    s.insert(pos, 1, alphabet[below(alphabet.size())]);
                    break;
                case 2:  // delete a range
                    s.erase(pos, below(12) + 1);
                    break;
                case 3:  // duplicate a range
                    s.insert(pos, s.substr(below(s.size()), below(40) + 1));
                    break;
                default:  // swap two bytes
                    std::swap(s[pos], s[below(s.size())]);
                    break;
            }
            if (s.empty()) {
                s = "{";
            }
        }
        check_total(s, limits);
        if (decode(s, limits).req.has_value()) {
            ++accepted;
        }
    }
    // Some mutations keep the request valid: both outcomes were exercised.
    CHECK(accepted > 0);
    CHECK(accepted < 6000);
}
