// Event encoding (protocol/envelope.hpp): every event must parse to the documented fields, in
// the documented order, whatever the strings contain.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/envelope.hpp"
#include "protocol/json_text.hpp"

namespace lp = llmb::protocol;
using ordered = nlohmann::ordered_json;

namespace {

std::vector<std::string> keys_of(const ordered& j) {
    std::vector<std::string> keys;
    for (const auto& item : j.items()) {
        keys.push_back(item.key());
    }
    return keys;
}

// Parses an event and checks the head every event shares.
ordered parse_event(const std::string& payload, std::string_view id, std::uint64_t seq,
                    std::string_view type) {
    const ordered j = ordered::parse(payload);
    REQUIRE(j.is_object());
    const auto keys = keys_of(j);
    REQUIRE(keys.size() >= 3);
    CHECK(keys[0] == "id");
    CHECK(keys[1] == "seq");
    CHECK(keys[2] == "type");
    CHECK(j["id"] == id);
    CHECK(j["seq"].get<std::uint64_t>() == seq);
    CHECK(j["type"] == type);
    return j;
}

}  // namespace

TEST_CASE("start event") {
    const std::string a = lp::encode_start("r1", 0, "qwen", false, std::nullopt);
    CHECK(a == R"({"id":"r1","seq":0,"type":"start","model":"qwen","mode":"stream"})");
    const ordered b = parse_event(lp::encode_start("r1", 5, "m\"x", true, "s1"), "r1", 5, "start");
    CHECK(keys_of(b) == std::vector<std::string>{"id", "seq", "type", "model", "mode", "session"});
    CHECK(b["model"] == "m\"x");
    CHECK(b["mode"] == "whole");
    CHECK(b["session"] == "s1");
}

TEST_CASE("status events") {
    const ordered q = parse_event(lp::encode_status_queued("r", 1, 42), "r", 1, "status");
    CHECK(keys_of(q) == std::vector<std::string>{"id", "seq", "type", "status", "position"});
    CHECK(q["status"] == "queued");
    CHECK(q["position"] == 42);
    const ordered g = parse_event(lp::encode_status_generating("r", 2), "r", 2, "status");
    CHECK(keys_of(g) == std::vector<std::string>{"id", "seq", "type", "status"});
    CHECK(g["status"] == "generating");
}

TEST_CASE("status trimmed event") {
    CHECK(lp::encode_status_trimmed("r1", 3, 4) ==
          R"({"id":"r1","seq":3,"type":"status","status":"trimmed","dropped":4})");
    const ordered t = parse_event(lp::encode_status_trimmed("a\"b", 12, 0), "a\"b", 12, "status");
    CHECK(keys_of(t) == std::vector<std::string>{"id", "seq", "type", "status", "dropped"});
    CHECK(t["status"] == "trimmed");
    CHECK(t["dropped"] == 0);
    const ordered big =
        parse_event(lp::encode_status_trimmed("r", 1, std::numeric_limits<std::uint64_t>::max()),
                    "r", 1, "status");
    CHECK(big["dropped"].get<std::uint64_t>() == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("chunk event, text and reasoning") {
    CHECK(lp::encode_chunk("r1", 1, "Hel") == R"({"id":"r1","seq":1,"type":"chunk","text":"Hel"})");
    const ordered r = parse_event(lp::encode_chunk("r1", 2, "hmm", true), "r1", 2, "chunk");
    CHECK(keys_of(r) == std::vector<std::string>{"id", "seq", "type", "reasoning"});
    CHECK(r["reasoning"] == "hmm");
}

TEST_CASE("chunk text escapes every control character") {
    for (int c = 0; c < 0x20; ++c) {
        const std::string text = "a" + std::string(1, static_cast<char>(c)) + "b";
        const std::string payload = lp::encode_chunk("r", 3, text);
        // No raw control character may appear in the JSON text.
        for (const char ch : payload) {
            REQUIRE(static_cast<unsigned char>(ch) >= 0x20);
        }
        CHECK(parse_event(payload, "r", 3, "chunk")["text"] == text);
    }
    const std::string quoted = lp::encode_chunk("r", 0, "\"\\/");
    CHECK(quoted == R"({"id":"r","seq":0,"type":"chunk","text":"\"\\/"})");
}

TEST_CASE("invalid UTF-8 is replaced, valid non-ASCII is kept raw") {
    const std::string payload = lp::encode_chunk("r", 0, "ok\xC3(\xF0\x9F\x98\x80\xFF");
    CHECK(lp::valid_utf8(payload));
    CHECK(parse_event(payload, "r", 0, "chunk")["text"] ==
          "ok\xEF\xBF\xBD(\xF0\x9F\x98\x80\xEF\xBF\xBD");
    CHECK(payload.find("\xF0\x9F\x98\x80") != std::string::npos);
}

TEST_CASE("large seq values are written in full") {
    const std::uint64_t seqs[] = {9, 10, 4294967296ull, std::numeric_limits<std::uint64_t>::max()};
    for (const std::uint64_t seq : seqs) {
        parse_event(lp::encode_chunk("r", seq, "x"), "r", seq, "chunk");
        parse_event(lp::encode_status_generating("r", seq), "r", seq, "status");
    }
    CHECK(lp::encode_status_generating("r", std::numeric_limits<std::uint64_t>::max()) ==
          R"({"id":"r","seq":18446744073709551615,"type":"status","status":"generating"})");
}

TEST_CASE("tool_calls event carries the array verbatim") {
    const std::string calls =
        R"([{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}])";
    const std::string payload = lp::encode_tool_calls("r", 4, calls);
    CHECK(payload == R"({"id":"r","seq":4,"type":"tool_calls","tool_calls":)" + calls + "}");
    const ordered j = parse_event(payload, "r", 4, "tool_calls");
    CHECK(j["tool_calls"][0]["function"]["arguments"] == R"({"a":1})");
}

TEST_CASE("done event") {
    lp::done_info info;
    info.finish_reason = "stop";
    info.usage = lp::token_usage{9, 2};
    info.chunks = 2;
    info.bytes = 6;
    info.duration_ms = 41;
    info.ttft_ms = 12;
    info.tokens_per_second = 48.8;
    CHECK(lp::encode_done("r1", 3, info) ==
          R"({"id":"r1","seq":3,"type":"done","finish_reason":"stop","usage":{"prompt_tokens":9,)"
          R"("completion_tokens":2},"chunks":2,"bytes":6,"duration_ms":41,"ttft_ms":12,)"
          R"("tokens_per_second":48.8})");

    const ordered full = parse_event(lp::encode_done("r1", 3, info), "r1", 3, "done");
    CHECK(keys_of(full) == std::vector<std::string>{"id", "seq", "type", "finish_reason", "usage",
                                                    "chunks", "bytes", "duration_ms", "ttft_ms",
                                                    "tokens_per_second"});

    info.usage = lp::token_usage{std::nullopt, 7};
    info.ttft_ms.reset();
    info.tokens_per_second.reset();
    const ordered partial = parse_event(lp::encode_done("r1", 3, info), "r1", 3, "done");
    CHECK(partial["usage"] == ordered{{"completion_tokens", 7}});
    CHECK(partial["ttft_ms"].is_null());
    CHECK(partial["tokens_per_second"].is_null());

    info.usage.reset();
    CHECK(parse_event(lp::encode_done("r1", 3, info), "r1", 3, "done")["usage"].is_null());
    info.usage = lp::token_usage{};
    CHECK(parse_event(lp::encode_done("r1", 3, info), "r1", 3, "done")["usage"] ==
          ordered::object());
}

TEST_CASE("done tokens_per_second: two decimals at most, null when not finite") {
    const std::pair<double, std::string_view> cases[] = {
        {48.8, "48.8"},
        {50.0, "50"},
        {1234.5678, "1234.57"},
        {0.001, "0"},
        {-0.0, "0"},
        {0.5, "0.5"},
        {99.999, "100"},
        {1e9, "1000000000"},
        {std::nan(""), "null"},
        {std::numeric_limits<double>::infinity(), "null"},
        {-std::numeric_limits<double>::infinity(), "null"},
    };
    lp::done_info info;
    info.finish_reason = "length";
    for (const auto& [value, text] : cases) {
        info.tokens_per_second = value;
        const std::string payload = lp::encode_done("r", 1, info);
        CAPTURE(payload);
        CHECK(payload.ends_with(",\"tokens_per_second\":" + std::string(text) + "}"));
        parse_event(payload, "r", 1, "done");
    }
    info.tokens_per_second = std::numeric_limits<double>::max();
    const ordered j = parse_event(lp::encode_done("r", 1, info), "r", 1, "done");
    CHECK(j["tokens_per_second"].get<double>() == std::numeric_limits<double>::max());
}

TEST_CASE("error event") {
    lp::error err{lp::error_code::rate_limited, "too many \"requests\"", 1500};
    const ordered j = parse_event(lp::encode_error("r", 0, err), "r", 0, "error");
    CHECK(keys_of(j) == std::vector<std::string>{"id", "seq", "type", "code", "message",
                                                 "retryable", "retry_after_ms"});
    CHECK(j["code"] == "rate_limited");
    CHECK(j["message"] == "too many \"requests\"");
    CHECK(j["retryable"] == true);
    CHECK(j["retry_after_ms"] == 1500);

    const lp::error bad{lp::error_code::bad_request, "missing messages", std::nullopt};
    const ordered k = parse_event(lp::encode_error("r", 7, bad), "r", 7, "error");
    CHECK(keys_of(k) ==
          std::vector<std::string>{"id", "seq", "type", "code", "message", "retryable"});
    CHECK(k["code"] == "bad_request");
    CHECK(k["retryable"] == false);

    // An error that knows better than its code: the server refused the request itself.
    lp::error refused{lp::error_code::upstream_error, "HTTP 400", std::nullopt};
    refused.retryable = false;
    const ordered r = parse_event(lp::encode_error("r", 2, refused), "r", 2, "error");
    CHECK(r["code"] == "upstream_error");
    CHECK(r["retryable"] == false);
}

TEST_CASE("session event") {
    const ordered a =
        parse_event(lp::encode_session("q", 0, true, "s1", std::nullopt), "q", 0, "session");
    CHECK(keys_of(a) == std::vector<std::string>{"id", "seq", "type", "ok", "session"});
    CHECK(a["ok"] == true);
    CHECK(a["session"] == "s1");

    const std::vector<lp::session_message> msgs = {
        {"system", "be brief"}, {"user", "line1\nline2"}, {"assistant", "caf\xC3\xA9"}};
    const ordered b = parse_event(lp::encode_session("q", 1, true, "s1", msgs), "q", 1, "session");
    CHECK(keys_of(b) == std::vector<std::string>{"id", "seq", "type", "ok", "session", "messages"});
    REQUIRE(b["messages"].size() == 3);
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        CHECK(keys_of(b["messages"][i]) == std::vector<std::string>{"role", "content"});
        CHECK(b["messages"][i]["role"] == msgs[i].role);
        CHECK(b["messages"][i]["content"] == msgs[i].content);
    }

    const ordered c =
        parse_event(lp::encode_session("q", 2, false, "s2", std::vector<lp::session_message>{}),
                    "q", 2, "session");
    CHECK(c["ok"] == false);
    CHECK(c["messages"] == ordered::array());
}

TEST_CASE("frag event") {
    const std::string data = R"({"id":"r","seq":9,"type":"done"})";
    const std::string payload = lp::encode_frag("r", 9, "done", 0, 3, data);
    CHECK(payload ==
          R"({"id":"r","seq":9,"type":"frag","of":"done","part":0,"parts":3,"data":"{\"id\":\"r\",)"
          R"(\"seq\":9,\"type\":\"done\"}"})");
    const ordered j = parse_event(payload, "r", 9, "frag");
    CHECK(keys_of(j) ==
          std::vector<std::string>{"id", "seq", "type", "of", "part", "parts", "data"});
    CHECK(j["data"] == data);
}

TEST_CASE("chunk_overhead and frag_overhead match the encoders") {
    std::mt19937_64 rng(5);
    const std::string alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-\"\\\n\x01";
    for (int iter = 0; iter < 5000; ++iter) {
        std::string id;
        const auto len = std::uniform_int_distribution<int>(0, 64)(rng);
        for (int k = 0; k < len; ++k) {
            id += alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
        }
        // Seqs of every digit count, including around powers of ten.
        const int digits = std::uniform_int_distribution<int>(0, 19)(rng);
        std::uint64_t seq = 1;
        for (int d = 0; d < digits; ++d) {
            seq *= 10;
        }
        seq += std::uniform_int_distribution<std::uint64_t>(0, 2)(rng);
        seq -= 1;
        if (iter % 97 == 0) {
            seq = std::numeric_limits<std::uint64_t>::max();
        }
        for (const bool reasoning : {false, true}) {
            CAPTURE(id);
            CAPTURE(seq);
            REQUIRE(lp::chunk_overhead(id, seq, reasoning) ==
                    lp::encode_chunk(id, seq, "", reasoning).size());
            REQUIRE(lp::chunk_overhead(id, seq, reasoning) + lp::json_string_size("a\"\xC3\xA9") -
                        2 ==
                    lp::encode_chunk(id, seq, "a\"\xC3\xA9", reasoning).size());
        }
        const std::uint64_t part = seq / 3;
        const std::uint64_t parts = seq / 2 + 1;
        REQUIRE(lp::frag_overhead(id, seq, "tool_calls", part, parts) ==
                lp::encode_frag(id, seq, "tool_calls", part, parts, "").size());
        REQUIRE(lp::frag_overhead(id, seq, "done", part, parts) + lp::json_string_size("{\"x\"") -
                    2 ==
                lp::encode_frag(id, seq, "done", part, parts, "{\"x\"").size());
    }
}
