// Shared by the device library's unit tests (test_device*.cpp): callbacks that record what the
// decoder delivered, and responses as the bridge's own encoder and splitter produce them.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "protocol/device/llmb_device.h"
#include "protocol/envelope.hpp"
#include "protocol/packet.hpp"

namespace device_test {

namespace lp = llmb::protocol;

static_assert(sizeof(llmb_stream) <= 256, "the device state must stay within 256 bytes");

// Everything the callbacks saw, copied (their pointers are valid during the call only).
struct recorder {
    std::string text;
    std::string reasoning;
    std::string tool_calls;
    std::vector<std::string> events;  // one line per callback, in order
    std::vector<std::pair<std::uint32_t, std::uint32_t>> gaps;
    llmb_done done{};
    std::string finish_reason;
    llmb_error error{};
    std::string error_code;
    std::string error_message;
    std::size_t calls = 0;
};

inline recorder& rec(void* user) {
    auto& r = *static_cast<recorder*>(user);
    ++r.calls;
    return r;
}

inline const llmb_callbacks recording_callbacks = {
    [](void* u, const char* model, int whole) {
        rec(u).events.push_back(std::string("start ") + model + (whole ? " whole" : " stream"));
    },
    [](void* u, const char* s, std::size_t n) { rec(u).text.append(s, n); },
    [](void* u, const char* s, std::size_t n) { rec(u).reasoning.append(s, n); },
    [](void* u, llmb_status status, std::uint32_t value) {
        rec(u).events.push_back("status " + std::to_string(static_cast<int>(status)) + " " +
                                std::to_string(value));
    },
    [](void* u, const char* s, std::size_t n) {
        auto& r = rec(u);
        r.tool_calls.assign(s, n);
        r.events.push_back("tool_calls");
    },
    [](void* u, const llmb_done* d) {
        auto& r = rec(u);
        r.done = *d;
        r.finish_reason = d->finish_reason;
        r.events.push_back("done " + r.finish_reason);
    },
    [](void* u, const llmb_error* e) {
        auto& r = rec(u);
        r.error = *e;
        r.error_code = e->code;
        r.error_message = e->message;
        r.events.push_back("error " + r.error_code);
    },
    [](void* u, std::uint32_t first_missing, std::uint32_t received) {
        rec(u).gaps.emplace_back(first_missing, received);
    },
};

// One request's decoder with its work buffer and what it delivered.
struct device {
    recorder r;
    std::vector<char> buf;
    llmb_stream st{};

    explicit device(const char* id, std::size_t buf_size = 1024, const char* topic = nullptr)
        : buf(buf_size) {
        REQUIRE(llmb_stream_init(&st, id, topic, buf.data(), buf.size(), &recording_callbacks,
                                 &r) == 0);
    }
    llmb_feed_result feed(const std::string& payload, const char* topic = nullptr) {
        return llmb_stream_feed(&st, topic, payload.data(), payload.size());
    }
};

// A response as the bridge sends it, every event within max_payload (frags where needed).
struct response {
    std::string reasoning;
    std::string text;
    std::string tool_calls;  // a JSON array, or empty
    std::size_t max_payload = 256;
};

inline std::vector<std::string> bridge_messages(const std::string& id, const response& spec) {
    std::vector<std::string> out;
    std::uint64_t seq = 0;
    const auto add_event = [&](std::string_view type, const std::string& event) {
        const auto split = lp::split_event(id, seq, type, event, spec.max_payload);
        REQUIRE(split.ok);
        out.insert(out.end(), split.payloads.begin(), split.payloads.end());
    };
    const bool whole = !spec.tool_calls.empty();
    add_event("start", lp::encode_start(id, seq, "qwen \"2.5\" \xC3\xA9", whole, std::nullopt));
    add_event("status", lp::encode_status_queued(id, seq, 3));
    add_event("status", lp::encode_status_generating(id, seq));
    std::uint64_t chunks = 0;
    for (const bool reasoning : {true, false}) {
        const auto split = lp::split_chunks(id, seq, reasoning ? spec.reasoning : spec.text,
                                            reasoning, spec.max_payload);
        REQUIRE(split.ok);
        chunks += split.payloads.size();
        out.insert(out.end(), split.payloads.begin(), split.payloads.end());
    }
    if (whole) {
        add_event("tool_calls", lp::encode_tool_calls(id, seq, spec.tool_calls));
    }
    lp::done_info done;
    done.finish_reason = whole ? "tool_calls" : "stop";
    done.usage = lp::token_usage{12, 34};
    done.chunks = chunks;
    done.bytes = spec.text.size();
    done.duration_ms = 1234;
    done.ttft_ms = 56;
    done.tokens_per_second = 12.5;
    add_event("done", lp::encode_done(id, seq, done));
    return out;
}

// Texts in every UTF-8 length, with what JSON must escape.
inline std::vector<std::string> sample_texts() {
    std::vector<std::string> texts = {
        "",
        "Hello!",
        "quote \" backslash \\ slash / newline \n tab \t cr \r bell \x07 unit \x1f del \x7f",
        "caf\xC3\xA9 na\xC3\xAFve \xC3\xBC\xC3\x9F",                         // 2 bytes
        "\xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95 \xE2\x82\xAC",     // 3 bytes
        "\xF0\x9F\x98\x80\xF0\x9F\x8C\x8D\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",  // 4 bytes
    };
    // A long text of all of them mixed, deterministically.
    const std::vector<std::string> pieces = {
        "a",    " ", "\"", "\\", "\n", "\x01", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
        "word "};
    std::mt19937 rng(15);
    std::string mixed;
    while (mixed.size() < 3000) {
        mixed += pieces[rng() % pieces.size()];
    }
    texts.push_back(mixed);
    return texts;
}

inline const std::string weather_calls =
    R"([{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Par\u00eds \\\"x\\\"\",\"unit\":\"celsius\"}"}}])";

}  // namespace device_test
