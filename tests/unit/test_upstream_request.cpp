// The body of POST /v1/chat/completions built from a decoded request.
#include <doctest/doctest.h>

#include "support.hpp"

#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "protocol/request.hpp"
#include "protocol/upstream_request.hpp"

namespace p = llmb::protocol;
using nlohmann::json;

namespace {

using llmb::test::read_fixture;

p::request decoded(const std::string& payload) {
    auto d = p::decode_request(payload, p::request_limits{}, "gen-1");
    INFO("payload: " << payload);
    REQUIRE(d.req.has_value());
    return std::move(*d.req);
}

p::upstream_options up(std::string model, bool stream) {
    p::upstream_options o;
    o.model = std::move(model);
    o.stream = stream;
    return o;
}

json body_of(const p::request& req, const p::upstream_options& opts) {
    const std::string body = p::encode_chat_completion(req, opts);
    INFO("body: " << body);
    REQUIRE(json::accept(body));
    return json::parse(body);
}

}  // namespace

TEST_CASE("a streamed request asks for usage, as the recorded llama-server request did") {
    // The device request is the recorded upstream request (its "model" and "stream" are read
    // as the device's own); the bridge then asks for the model it chose and for usage.
    const auto req = decoded(read_fixture("03_chat_stream.request.json"));
    const json expected = json::parse(read_fixture("04_chat_stream_include_usage.request.json"));
    CHECK(body_of(req, up("tiny", true)) == expected);
}

TEST_CASE("max_tokens is passed on") {
    const auto req = decoded(read_fixture("06_max_tokens_5_stream.request.json"));
    json expected = json::parse(read_fixture("06_max_tokens_5_stream.request.json"));
    expected["stream_options"] = {{"include_usage", true}};
    CHECK(body_of(req, up("tiny", true)) == expected);
}

TEST_CASE("a whole-mode tools request keeps tools, seed and messages; unknown fields stay out") {
    const auto req = decoded(read_fixture("15_tools_two_calls_nonstream.request.json"));
    CHECK(req.whole_mode());
    const json recorded = json::parse(read_fixture("15_tools_two_calls_nonstream.request.json"));
    const json body = body_of(req, up("tiny", false));
    CHECK(body["model"] == "tiny");
    CHECK(body["stream"] == false);
    CHECK_FALSE(body.contains("stream_options"));
    CHECK(body["messages"] == recorded["messages"]);
    CHECK(body["tools"] == recorded["tools"]);
    CHECK(body["seed"] == 6);
    CHECK_FALSE(body.contains("logit_bias"));  // not part of the device protocol
}

TEST_CASE("messages are spliced in exactly as decoded") {
    const auto req =
        decoded(R"({"messages":[{"role":"system","content":"Be terse."},)"
                R"({"role":"user","content":[{"type":"text","text":"a\u00e9\"b"}],"name":"ann"},)"
                R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
                R"("function":{"name":"f","arguments":"{}"}}]},)"
                R"({"role":"tool","tool_call_id":"c1","content":"ok"}]})");
    const std::string body = p::encode_chat_completion(req, up("", true));
    std::string expected_messages = "\"messages\":[";
    for (std::size_t i = 0; i < req.messages.size(); ++i) {
        expected_messages += (i > 0 ? "," : "") + req.messages[i].raw_json;
    }
    expected_messages += "]";
    CHECK(body.find(expected_messages) != std::string::npos);
    const json parsed = json::parse(body);
    REQUIRE(parsed["messages"].size() == 4);
    CHECK(parsed["messages"][1]["content"][0]["text"] == "a\xC3\xA9\"b");
    CHECK(parsed["messages"][1]["name"] == "ann");
}

TEST_CASE("model only when chosen; sampling only when the request set it") {
    const auto req = decoded(R"({"prompt":"hi","model":"ignored-here"})");
    const json body = body_of(req, up("", false));
    CHECK(body == json::parse(R"({"messages":[{"role":"user","content":"hi"}],"stream":false})"));
}

TEST_CASE("every sampling field the request set arrives with its exact value") {
    const auto req = decoded(R"({"prompt":"hi","temperature":0.7,"top_p":0.95,"max_tokens":32768,)"
                             R"("stop":["\n\n","END \"x\""],"seed":-9223372036854775808,)"
                             R"("tools":[{"type":"function","function":{"name":"f"}}],)"
                             R"("tool_choice":{"type":"function","function":{"name":"f"}}})");
    const json body = body_of(req, up("qwen \"2.5\" \xE2\x9C\x93", true));
    CHECK(body["model"] == "qwen \"2.5\" \xE2\x9C\x93");
    CHECK(body["stream"] == true);
    CHECK(body["stream_options"] == json::parse(R"({"include_usage":true})"));
    CHECK(body["temperature"].get<double>() == 0.7);
    CHECK(body["top_p"].get<double>() == 0.95);
    CHECK(body["max_tokens"] == 32768);
    CHECK(body["stop"] == json::parse(R"(["\n\n","END \"x\""])"));
    CHECK(body["seed"].get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
    CHECK(body["tools"] == json::parse(R"([{"type":"function","function":{"name":"f"}}])"));
    CHECK(body["tool_choice"] == json::parse(R"({"type":"function","function":{"name":"f"}})"));
}

TEST_CASE("numbers are written in their shortest exact form") {
    p::request req = decoded(R"({"prompt":"hi"})");
    for (const double t : {0.0, 1.0, 2.0, 0.1, 0.7, 1.9999999999999998, 1e-9}) {
        req.temperature = t;
        const std::string body = p::encode_chat_completion(req, up("", false));
        INFO("body: " << body);
        CHECK(json::parse(body)["temperature"].get<double>() == t);
    }
    req.temperature = 0.7;
    req.seed = std::numeric_limits<std::int64_t>::max();
    const std::string body = p::encode_chat_completion(req, up("", false));
    CHECK(body.find(R"("temperature":0.7,)") != std::string::npos);
    CHECK(body.find(R"("seed":9223372036854775807)") != std::string::npos);
}

TEST_CASE("thinking control and a LoRA choice go as llama-server reads them") {
    const auto req = decoded(R"({"prompt":"hi"})");
    p::upstream_options opts = up("m", true);
    json plain = body_of(req, opts);
    CHECK_FALSE(plain.contains("chat_template_kwargs"));
    CHECK_FALSE(plain.contains("lora"));

    opts.enable_thinking = false;
    opts.lora_json = R"([{"id":1,"scale":0.5}])";
    json b = body_of(req, opts);
    CHECK(b["chat_template_kwargs"] == json{{"enable_thinking", false}});
    CHECK(b["lora"] == json::parse(R"([{"id":1,"scale":0.5}])"));
    opts.enable_thinking = true;
    CHECK(body_of(req, opts)["chat_template_kwargs"]["enable_thinking"] == true);
}
