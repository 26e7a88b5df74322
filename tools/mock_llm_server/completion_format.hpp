// The JSON and SSE text of chat completions, framed exactly as llama-server frames them. Every
// chat.completion(.chunk) object also carries "mock_ts_ns": the CLOCK_REALTIME time at which it
// was written, for latency measurements. Pure: times are passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "answer.hpp"

namespace llmb::mock {

struct completion_meta {
    std::string id;            // "chatcmpl-..."
    std::int64_t created = 0;  // Unix seconds
    std::string model;
};

struct usage_counts {
    std::size_t prompt_tokens = 0;
    std::size_t completion_tokens = 0;
};

struct timings {
    std::size_t prompt_n = 0;
    double prompt_ms = 0;
    std::size_t predicted_n = 0;
    double predicted_ms = 0;
};

// Appends SSE events "data: {...}\n\n" of one stream.
class chunk_formatter {
public:
    explicit chunk_formatter(const completion_meta& meta);

    // First event: delta {"role":"assistant","content":null}.
    void role(std::string& ev, std::int64_t ts_ns) const;
    // delta {"content":text} or {"reasoning_content":text}.
    void text(std::string& ev, piece_kind kind, std::string_view text, std::int64_t ts_ns) const;
    // delta {"content":"<raw>"} with raw copied unescaped (to send invalid UTF-8 on purpose).
    void raw_content(std::string& ev, std::string_view raw, std::int64_t ts_ns) const;
    // delta {"tool_calls":[{"index":i,"id":..,"type":"function","function":{"name":..,
    // "arguments":..}}]}.
    void tool_open(std::string& ev, std::size_t index, const tool_call& call,
                   std::string_view arguments, std::int64_t ts_ns) const;
    // delta {"tool_calls":[{"index":i,"function":{"arguments":..}}]}.
    void tool_arguments(std::string& ev, std::size_t index, std::string_view arguments,
                        std::int64_t ts_ns) const;
    // finish_reason and delta {}; timings ride on it when t is given.
    void finish(std::string& ev, std::string_view reason, const timings* t,
                std::int64_t ts_ns) const;
    // "choices":[] with usage and timings (stream_options.include_usage).
    void usage(std::string& ev, const usage_counts& u, const timings& t, std::int64_t ts_ns) const;

private:
    void begin(std::string& ev) const;
    void end(std::string& ev, std::int64_t ts_ns) const;

    std::string tail_;  // the top-level fields after "choices": created, id, model, ...
};

inline constexpr std::string_view done_event = "data: [DONE]\n\n";
inline constexpr std::string_view mid_stream_error_event =
    "data: {\"error\":{\"code\":500,\"message\":\"mock error mid-stream\","
    "\"type\":\"server_error\"}}\n\n";
inline constexpr std::string_view old_error_line =
    "error: {\"code\":500,\"message\":\"mock old-style error\",\"type\":\"server_error\"}\n\n";
inline constexpr std::string_view malformed_event = "data: {not json\n\n";

// The content of a whole response; raw (if not empty) is inserted unescaped at raw_at.
struct whole_message {
    std::string_view content;
    std::string_view reasoning;
    std::span<const tool_call> tool_calls;
    std::string_view raw;
    std::size_t raw_at = 0;
};

// The body of a non-streamed "chat.completion".
std::string whole_completion(const completion_meta& meta, const whole_message& msg,
                             std::string_view finish_reason, const usage_counts& u,
                             const timings& t, std::int64_t ts_ns);

}  // namespace llmb::mock
