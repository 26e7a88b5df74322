// The OpenAI stream decoder, the tool call accumulator and the whole-response and error-body
// decoders, against real llama-server responses and the shapes other servers send.
#include <doctest/doctest.h>

#include "support.hpp"

#include <cstddef>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/openai.hpp"
#include "protocol/sse.hpp"

using llmb::protocol::decode_error_body;
using llmb::protocol::decode_stream_event;
using llmb::protocol::decode_whole_response;
using llmb::protocol::sse_event;
using llmb::protocol::sse_parser;
using llmb::protocol::stream_delta;
using llmb::protocol::tool_call_accumulator;
using llmb::protocol::tool_call_delta;
using llmb::protocol::whole_response;
using nlohmann::json;

namespace {

long recorded_status(const std::string& name) {
    const std::string raw = llmb::test::read_transcript(name);
    REQUIRE(raw.rfind("HTTP/1.1 ", 0) == 0);
    return std::stol(raw.substr(9, 3));
}

std::size_t count_of(std::string_view text, std::string_view needle) {
    std::size_t n = 0;
    for (std::size_t pos = text.find(needle); pos != std::string_view::npos;
         pos = text.find(needle, pos + needle.size())) {
        ++n;
    }
    return n;
}

// What the decoder makes of a whole recorded stream.
struct decoded_stream {
    std::vector<stream_delta> deltas;
    std::string content;
    std::size_t content_deltas = 0;
    std::vector<std::string> finish_reasons;
    std::optional<llmb::protocol::token_usage> usage;
    tool_call_accumulator tools;
    std::size_t done = 0;
    bool done_last = false;
    std::size_t errors = 0;
    std::size_t malformed = 0;
    bool partial = false;
};

decoded_stream decode_body(std::string_view body) {
    sse_parser parser;
    std::vector<sse_event> events;
    REQUIRE(parser.feed(body, events));
    decoded_stream s;
    s.partial = parser.has_partial();
    for (const sse_event& ev : events) {
        stream_delta d = decode_stream_event(ev);
        if (!d.content.empty()) {
            s.content += d.content;
            ++s.content_deltas;
        }
        if (d.finish_reason) {
            s.finish_reasons.push_back(*d.finish_reason);
        }
        if (d.usage) {
            s.usage = d.usage;
        }
        s.tools.add(d.tool_calls);
        s.done += d.done ? 1U : 0U;
        s.errors += d.error ? 1U : 0U;
        s.malformed += d.malformed ? 1U : 0U;
        s.deltas.push_back(std::move(d));
    }
    s.done_last = !s.deltas.empty() && s.deltas.back().done;
    return s;
}

// The answer text of a recorded stream read straight from its "data: " lines with a JSON
// library, without the SSE parser or the decoder.
std::string content_by_hand(const std::string& body) {
    std::string out;
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("data: {", 0) != 0) {
            continue;
        }
        const json chunk = json::parse(line.substr(6));
        if (chunk["choices"].is_array() && !chunk["choices"].empty()) {
            const json& delta = chunk["choices"][0]["delta"];
            if (delta.contains("content") && delta["content"].is_string()) {
                out += delta["content"].get<std::string>();
            }
        }
    }
    return out;
}

stream_delta decode_data(const std::string& data) {
    sse_event ev;
    ev.data = data;
    return decode_stream_event(ev);
}

// The tool calls of a non-streamed recorded response, as the server wrote them.
json recorded_tool_calls(const std::string& name) {
    return json::parse(llmb::test::transcript_body(name))["choices"][0]["message"]["tool_calls"];
}

}  // namespace

TEST_CASE("openai: stream with usage (04)") {
    const std::string body = llmb::test::transcript_body("04_chat_stream_include_usage");
    const decoded_stream s = decode_body(body);
    CHECK(s.malformed == 0);
    CHECK(s.errors == 0);
    CHECK(s.content == content_by_hand(body));
    CHECK(s.content_deltas == count_of(body, "\"delta\":{\"content\":\""));
    REQUIRE(s.finish_reasons.size() == 1);
    CHECK(s.finish_reasons[0] == "stop");
    REQUIRE(s.usage.has_value());
    CHECK(s.usage->prompt_tokens == 35U);
    CHECK(s.usage->completion_tokens == 13U);
    CHECK(s.done == 1);
    CHECK(s.done_last);
    CHECK(s.tools.empty());
    CHECK_FALSE(s.partial);
    // The first chunk names the role and has "content": null: no text, nothing wrong.
    CHECK(s.deltas.front().content.empty());
    CHECK_FALSE(s.deltas.front().malformed.has_value());
    CHECK(s.deltas.front().model == "tiny-random-qwen2tok.gguf");
}

TEST_CASE("openai: streams without usage and cut by max_tokens (03, 06)") {
    const std::string plain = llmb::test::transcript_body("03_chat_stream");
    const decoded_stream s = decode_body(plain);
    CHECK(s.malformed == 0);
    CHECK(s.content == content_by_hand(plain));
    CHECK(s.content_deltas == count_of(plain, "\"delta\":{\"content\":\""));
    CHECK(s.finish_reasons == std::vector<std::string>{"stop"});
    CHECK_FALSE(s.usage.has_value());
    CHECK(s.done_last);

    const std::string limited = llmb::test::transcript_body("06_max_tokens_5_stream");
    const decoded_stream l = decode_body(limited);
    CHECK(l.malformed == 0);
    CHECK(l.content == content_by_hand(limited));
    CHECK(l.content_deltas <= 5);  // the request asked for max_tokens 5
    CHECK(l.finish_reasons == std::vector<std::string>{"length"});
    CHECK(l.done_last);
}

TEST_CASE("openai: streamed tool calls match the non-streamed ones (12/11, 14/15)") {
    SUBCASE("two calls") {
        const decoded_stream s =
            decode_body(llmb::test::transcript_body("14_tools_two_calls_stream"));
        CHECK(s.malformed == 0);
        CHECK(s.content.empty());
        CHECK(s.finish_reasons == std::vector<std::string>{"tool_calls"});
        REQUIRE_FALSE(s.tools.empty());
        const json streamed = json::parse(s.tools.to_json());
        const json whole = recorded_tool_calls("15_tools_two_calls_nonstream");
        REQUIRE(streamed.is_array());
        REQUIRE(streamed.size() == whole.size());
        REQUIRE(streamed.size() == 2);
        for (std::size_t i = 0; i < streamed.size(); ++i) {
            CAPTURE(i);
            CHECK(streamed[i]["type"] == "function");
            CHECK(streamed[i]["function"]["name"] == whole[i]["function"]["name"]);
            REQUIRE(streamed[i]["function"]["arguments"].is_string());
            CHECK(json::parse(streamed[i]["function"]["arguments"].get<std::string>()) ==
                  json::parse(whole[i]["function"]["arguments"].get<std::string>()));
            CHECK_FALSE(streamed[i]["id"].get<std::string>().empty());
        }
        CHECK(streamed[0]["id"] != streamed[1]["id"]);
    }
    SUBCASE("one call") {
        // The two recordings come from separate runs of a random model: the arguments differ in
        // value but not in shape.
        const std::string body = llmb::test::transcript_body("12_tools_call_stream");
        const decoded_stream s = decode_body(body);
        CHECK(s.malformed == 0);
        CHECK(s.finish_reasons == std::vector<std::string>{"tool_calls"});
        const json streamed = json::parse(s.tools.to_json());
        const json whole = recorded_tool_calls("11_tools_call_nonstream");
        REQUIRE(streamed.size() == 1);
        REQUIRE(whole.size() == 1);
        CHECK(streamed[0]["function"]["name"] == whole[0]["function"]["name"]);
        const json args = json::parse(streamed[0]["function"]["arguments"].get<std::string>());
        const json whole_args = json::parse(whole[0]["function"]["arguments"].get<std::string>());
        REQUIRE(args.is_object());
        std::set<std::string> keys, whole_keys;
        for (const auto& [k, v] : args.items()) {
            keys.insert(k);
        }
        for (const auto& [k, v] : whole_args.items()) {
            whole_keys.insert(k);
        }
        CHECK(keys == whole_keys);
        const std::string id = streamed[0]["id"].get<std::string>();
        CHECK_FALSE(id.empty());
        CHECK(count_of(body, "\"id\":\"" + id + "\"") == 1);  // the opening fragment's id
    }
}

TEST_CASE("openai: a stream whose server died (27)") {
    const std::string body = llmb::test::transcript_body("27_server_killed_mid_stream");
    const decoded_stream s = decode_body(body);
    // The body ends after a keep-alive comment: nothing is held, but nothing finished either.
    CHECK_FALSE(s.partial);
    CHECK(s.done == 0);
    CHECK(s.finish_reasons.empty());
    CHECK(s.errors == 0);
    CHECK(s.malformed == 0);
    CHECK_FALSE(s.usage.has_value());
    CHECK(s.content == content_by_hand(body));
    CHECK(s.content_deltas == count_of(body, "\"delta\":{\"content\":\""));
}

TEST_CASE("openai: errors inside a stream") {
    SUBCASE("an error object (OpenAI, vLLM, current llama.cpp)") {
        const stream_delta d = decode_data(
            R"({"error":{"code":500,"message":"out of memory","type":"server_error"}})");
        REQUIRE(d.error.has_value());
        CHECK(*d.error == "out of memory");
        CHECK_FALSE(d.malformed.has_value());
        CHECK_FALSE(d.done);
    }
    SUBCASE("an error string") {
        const stream_delta d = decode_data(R"({"error":"model crashed"})");
        REQUIRE(d.error.has_value());
        CHECK(*d.error == "model crashed");
    }
    SUBCASE("an error object without a message is shown as JSON") {
        const stream_delta d = decode_data(R"({"error":{"code":503}})");
        REQUIRE(d.error.has_value());
        CHECK(*d.error == R"({"code":503})");
    }
    SUBCASE("older vLLM error chunk") {
        const stream_delta d =
            decode_data(R"({"object":"error","message":"bad sampling","code":400})");
        REQUIRE(d.error.has_value());
        CHECK(*d.error == "bad sampling");
    }
    SUBCASE("old llama.cpp: error line, then data: [DONE]") {
        sse_parser parser;
        std::vector<sse_event> events;
        parser.feed(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
            "error: {\"code\":500,\"message\":\"slot unavailable\",\"type\":\"server_error\"}\n\n"
            "data: [DONE]\n\n",
            events);
        REQUIRE(events.size() == 3);
        const stream_delta first = decode_stream_event(events[0]);
        CHECK(first.content == "Hi");
        const stream_delta err = decode_stream_event(events[1]);
        REQUIRE(err.error.has_value());
        CHECK(*err.error == "slot unavailable");
        CHECK_FALSE(err.done);
        CHECK(decode_stream_event(events[2]).done);
    }
    SUBCASE("error line that is not JSON") {
        sse_event ev;
        ev.error = "  something\tbroke \n";
        const stream_delta d = decode_stream_event(ev);
        REQUIRE(d.error.has_value());
        CHECK(*d.error == "something broke");
    }
    SUBCASE("event: error with a JSON message") {
        sse_event ev;
        ev.event = "error";
        ev.data = R"({"message":"overloaded"})";
        const stream_delta d = decode_stream_event(ev);
        REQUIRE(d.error.has_value());
        CHECK(*d.error == "overloaded");
    }
}

TEST_CASE("openai: chunk shapes of other servers") {
    SUBCASE("vLLM usage chunk with choices null") {
        const stream_delta d =
            decode_data(R"({"id":"x","object":"chat.completion.chunk","model":"m","choices":null,)"
                        R"("usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}})");
        CHECK_FALSE(d.malformed.has_value());
        REQUIRE(d.usage.has_value());
        CHECK(d.usage->prompt_tokens == 12U);
        CHECK(d.usage->completion_tokens == 7U);
        CHECK(d.content.empty());
        CHECK_FALSE(d.finish_reason.has_value());
        CHECK(d.model == "m");
    }
    SUBCASE("Ollama reasoning") {
        const stream_delta d =
            decode_data(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":"",)"
                        R"("reasoning":"Let me think"},"finish_reason":null}]})");
        CHECK_FALSE(d.malformed.has_value());
        CHECK(d.reasoning == "Let me think");
        CHECK(d.content.empty());
    }
    SUBCASE("llama-server reasoning_content") {
        const stream_delta d = decode_data(
            R"({"choices":[{"index":0,"delta":{"reasoning_content":"hmm","content":null}}]})");
        CHECK(d.reasoning == "hmm");
        CHECK(d.content.empty());
    }
    SUBCASE("finish_reason with content in the same chunk") {
        const stream_delta d = decode_data(
            R"({"choices":[{"index":0,"delta":{"content":"end."},"finish_reason":"length"}]})");
        CHECK(d.content == "end.");
        CHECK(d.finish_reason == std::optional<std::string>("length"));
    }
    SUBCASE("[DONE] with surrounding white space") {
        CHECK(decode_data(" [DONE] \n").done);
        CHECK_FALSE(decode_data("[DONE]x").done);
    }
    SUBCASE("an empty data event carries nothing and is not an error") {
        const stream_delta d = decode_data("");
        CHECK_FALSE(d.malformed.has_value());
        CHECK_FALSE(d.error.has_value());
        CHECK_FALSE(d.done);
    }
    SUBCASE("tool call deltas with every field") {
        const stream_delta d =
            decode_data(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"id":"call_1",)"
                        R"("type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]})");
        REQUIRE(d.tool_calls.size() == 1);
        CHECK(d.tool_calls[0].index == 2);
        CHECK(d.tool_calls[0].id == "call_1");
        CHECK(d.tool_calls[0].type == "function");
        CHECK(d.tool_calls[0].name == "f");
        CHECK(d.tool_calls[0].arguments == "{\"a\"");
    }
}

TEST_CASE("openai: unreadable events are malformed, with a reason") {
    const char* const bad[] = {
        "not json",
        "{\"choices\":[",
        "[1,2,3]",
        "\"text\"",
        R"({"choices":{}})",
        R"({"choices":[1]})",
        R"({"choices":[{"delta":"text"}]})",
        R"({"choices":[{"delta":{"content":5}}]})",
        R"({"choices":[{"delta":{"content":["a"]}}]})",
        R"({"choices":[{"delta":{"reasoning_content":{}}}]})",
        R"({"choices":[{"delta":{"tool_calls":{}}}]})",
        R"({"choices":[{"delta":{"tool_calls":[1]}}]})",
        R"({"choices":[{"delta":{"tool_calls":[{"index":-1}]}}]})",
        R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":"f"}]}}]})",
        R"({"choices":[{"delta":{"content":"ok"},"finish_reason":1}]})",
    };
    for (const char* data : bad) {
        CAPTURE(data);
        const stream_delta d = decode_data(data);
        REQUIRE(d.malformed.has_value());
        CHECK_FALSE(d.malformed->empty());
        CHECK(d.content.empty());
        CHECK_FALSE(d.done);
        CHECK_FALSE(d.error.has_value());
    }
}

TEST_CASE("openai: tool call accumulator") {
    tool_call_accumulator acc;
    CHECK(acc.empty());
    CHECK(acc.to_json() == "[]");
    auto delta = [](std::uint32_t index, std::string id, std::string name, std::string args) {
        tool_call_delta d;
        d.index = index;
        d.id = std::move(id);
        d.name = std::move(name);
        d.arguments = std::move(args);
        return d;
    };
    // Index 1 shows up first; fragments without id or name only add arguments.
    acc.add({delta(1, "b", "second", "{\"x\":")});
    acc.add({delta(0, "a", "first", "{")});
    acc.add({delta(1, "", "", "1}"), delta(0, "", "", "}")});
    acc.add({delta(0, "late", "late", "")});  // the first id and name stay
    CHECK_FALSE(acc.empty());
    const json calls = json::parse(acc.to_json());
    REQUIRE(calls.size() == 2);
    CHECK(calls[0] == json::parse(R"({"id":"a","type":"function",)"
                                  R"("function":{"name":"first","arguments":"{}"}})"));
    CHECK(calls[1] == json::parse(R"({"id":"b","type":"function",)"
                                  R"("function":{"name":"second","arguments":"{\"x\":1}"}})"));
    // Compact, in the order OpenAI writes it.
    CHECK(acc.to_json().rfind(R"([{"id":"a","type":"function","function":{"name":"first")", 0) ==
          0);
}

TEST_CASE("openai: whole responses") {
    SUBCASE("plain answer (05)") {
        const std::string body = llmb::test::transcript_body("05_chat_nonstream");
        const whole_response r = decode_whole_response(body);
        const json raw = json::parse(body);
        CHECK_FALSE(r.malformed.has_value());
        CHECK_FALSE(r.error.has_value());
        CHECK(r.content == raw["choices"][0]["message"]["content"].get<std::string>());
        CHECK(r.finish_reason == "stop");
        REQUIRE(r.usage.has_value());
        CHECK(r.usage->prompt_tokens == raw["usage"]["prompt_tokens"].get<std::uint64_t>());
        CHECK(r.usage->completion_tokens == raw["usage"]["completion_tokens"].get<std::uint64_t>());
        CHECK(r.tool_calls_json.empty());
        CHECK(r.model == raw["model"].get<std::string>());
    }
    SUBCASE("tool calls (11, 15)") {
        for (const char* name : {"11_tools_call_nonstream", "15_tools_two_calls_nonstream"}) {
            CAPTURE(name);
            const whole_response r = decode_whole_response(llmb::test::transcript_body(name));
            CHECK_FALSE(r.malformed.has_value());
            CHECK(r.content.empty());
            CHECK(r.finish_reason == "tool_calls");
            REQUIRE_FALSE(r.tool_calls_json.empty());
            CHECK(r.tool_calls_json.find('\n') == std::string::npos);
            CHECK(json::parse(r.tool_calls_json) == recorded_tool_calls(name));
        }
    }
    SUBCASE("arguments given as an object become a string") {
        const whole_response r = decode_whole_response(
            R"({"choices":[{"finish_reason":"tool_calls","message":{"content":null,)"
            R"("tool_calls":[{"id":"c","type":"function","function":{"name":"f",)"
            R"("arguments":{"city":"Paris"}}}]}}]})");
        CHECK_FALSE(r.malformed.has_value());
        const json calls = json::parse(r.tool_calls_json);
        REQUIRE(calls[0]["function"]["arguments"].is_string());
        CHECK(json::parse(calls[0]["function"]["arguments"].get<std::string>()) ==
              json{{"city", "Paris"}});
    }
    SUBCASE("reasoning") {
        const whole_response r =
            decode_whole_response(R"({"choices":[{"finish_reason":"stop","message":{"content":"4",)"
                                  R"("reasoning_content":"2+2"}}]})");
        CHECK(r.content == "4");
        CHECK(r.reasoning == "2+2");
    }
    SUBCASE("an error object") {
        const whole_response r =
            decode_whole_response(R"({"error":{"message":"context too long","code":400}})");
        REQUIRE(r.error.has_value());
        CHECK(*r.error == "context too long");
    }
    SUBCASE("unreadable bodies") {
        for (const char* body :
             {"", "<html>", "[]", R"({"choices":[]})", R"({"model":"m"})",
              R"({"choices":[{"message":{"content":7}}]})", R"({"choices":[{"message":"hi"}]})",
              R"({"choices":[{"message":{"tool_calls":[3]}}]})"}) {
            CAPTURE(body);
            const whole_response r = decode_whole_response(body);
            CHECK(r.malformed.has_value());
            CHECK(r.content.empty());
        }
    }
}

TEST_CASE("openai: HTTP error bodies") {
    for (const char* name :
         {"18_bad_invalid_json", "20_bad_missing_messages_stream", "24_ctx_exceeded_stream"}) {
        CAPTURE(name);
        const std::string body = llmb::test::transcript_body(name);
        const std::string message = decode_error_body(recorded_status(name), body);
        CHECK(message == json::parse(body)["error"]["message"].get<std::string>());
    }
    CHECK(decode_error_body(400, llmb::test::transcript_body("24_ctx_exceeded_stream"))
              .find("context size") != std::string::npos);
    CHECK(decode_error_body(503, "") == "HTTP 503");
    CHECK(decode_error_body(502, " \r\n") == "HTTP 502");
    CHECK(decode_error_body(500, R"({"error":"boom"})") == "boom");
    CHECK(decode_error_body(500, R"({"message":"plain"})") == "plain");
    CHECK(decode_error_body(404, R"({"detail":"Not Found"})") == "Not Found");
    CHECK(decode_error_body(422, R"({"detail":[{"msg":"field required"}]})") ==
          R"([{"msg":"field required"}])");
    // JSON without a known message field: its text.
    CHECK(decode_error_body(500, R"({"error":{"code":1}})") == R"({"error":{"code":1}})");
    CHECK(decode_error_body(502, "\n<html>\r\n<body>Bad\tGateway</body>\n</html>\n") ==
          "<html>  <body>Bad Gateway</body> </html>");

    // Long text is cut at a character boundary.
    std::string long_text;
    for (int i = 0; i < 400; ++i) {
        long_text += "\xC3\xA9";  // é
    }
    const std::string cut = decode_error_body(500, "x" + long_text);
    CHECK(cut.size() <= 300);
    CHECK(cut.size() > 290);
    REQUIRE(cut.size() >= 3);
    CHECK(cut.substr(cut.size() - 3) == "...");
    const std::string kept = cut.substr(1, cut.size() - 4);
    CHECK(kept.size() % 2 == 0);
    CHECK(long_text.rfind(kept, 0) == 0);
}

TEST_CASE("openai: deeply nested JSON is refused, not recursed into") {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const stream_delta d = decode_data("{\"error\":" + deep + "}");
    CHECK(d.malformed.has_value());
    CHECK_FALSE(d.error.has_value());
    const whole_response w = decode_whole_response(
        R"({"choices":[{"message":{"tool_calls":[{"function":{"arguments":)" + deep + "}}]}}]}");
    CHECK(w.malformed.has_value());
    const std::string message = decode_error_body(500, "{\"error\":" + deep + "}");
    CHECK(message.size() <= 300);
    CHECK(message.rfind("{\"error\":[[[", 0) == 0);
    // Brackets inside strings do not count.
    const stream_delta text =
        decode_data(R"({"choices":[{"delta":{"content":")" + std::string(1000, '[') + R"("}}]})");
    CHECK_FALSE(text.malformed.has_value());
    CHECK(text.content == std::string(1000, '['));
}

TEST_CASE("openai: damaged chunks never throw") {
    const std::string body = llmb::test::transcript_body("14_tools_two_calls_stream");
    std::vector<std::string> lines;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("data: ", 0) == 0) {
            lines.push_back(line.substr(6));
        }
    }
    REQUIRE_FALSE(lines.empty());
    std::mt19937 rng(99);
    for (int round = 0; round < 5000; ++round) {
        std::string data =
            lines[std::uniform_int_distribution<std::size_t>(0, lines.size() - 1)(rng)];
        const int edits = std::uniform_int_distribution<int>(1, 4)(rng);
        for (int e = 0; e < edits && !data.empty(); ++e) {
            const std::size_t at =
                std::uniform_int_distribution<std::size_t>(0, data.size() - 1)(rng);
            switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
                case 0:
                    data[at] = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
                    break;
                case 1:
                    data.resize(at);
                    break;
                default:
                    data.erase(at, 1);
                    break;
            }
        }
        CAPTURE(data);
        sse_event ev;
        ev.data = data;
        stream_delta d;
        CHECK_NOTHROW(d = decode_stream_event(ev));
        if (d.malformed) {
            CHECK(d.content.empty());
            CHECK(d.tool_calls.empty());
        }
        tool_call_accumulator acc;
        acc.add(d.tool_calls);
        CHECK_NOTHROW(json::parse(acc.to_json()));
        whole_response w;
        CHECK_NOTHROW(w = decode_whole_response(data));
        CHECK_NOTHROW(static_cast<void>(decode_error_body(500, data)));
    }
}
