// Encoding of the events a bridge publishes on the response topic. Every event is one JSON
// object that begins with "id", "seq" and "type" in that order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace llmb::protocol {

struct token_usage {
    std::optional<std::uint64_t> prompt_tokens;
    std::optional<std::uint64_t> completion_tokens;
};

struct done_info {
    std::string finish_reason;         // stop | length | tool_calls | cancelled | content_filter
    std::optional<token_usage> usage;  // "usage": null when the upstream reported none
    std::uint64_t chunks = 0;          // chunk events sent (text and reasoning)
    std::uint64_t bytes = 0;           // UTF-8 bytes of all chunk "text" (reasoning not counted)
    std::uint64_t duration_ms = 0;
    std::optional<std::uint64_t> ttft_ms;     // null when no text came
    std::optional<double> tokens_per_second;  // null when unknown
};

struct session_message {
    std::string role;
    std::string content;
};

// bridge: the serving bridge's id, sent when several bridges share the load ("" leaves it out).
std::string encode_start(std::string_view id, std::uint64_t seq, std::string_view model,
                         bool whole_mode, const std::optional<std::string>& session,
                         std::string_view bridge = {});
std::string encode_status_queued(std::string_view id, std::uint64_t seq, std::uint64_t position);
std::string encode_status_generating(std::string_view id, std::uint64_t seq);
// The history of the request's session was cut further (dropped: stored messages left out)
// because the LLM server refused the prompt as longer than its context; the request is retried.
std::string encode_status_trimmed(std::string_view id, std::uint64_t seq, std::uint64_t dropped);
// reasoning: the text goes in "reasoning" instead of "text".
std::string encode_chunk(std::string_view id, std::uint64_t seq, std::string_view text,
                         bool reasoning = false);
// tool_calls_json: an OpenAI tool_calls array as compact JSON (arguments are strings).
std::string encode_tool_calls(std::string_view id, std::uint64_t seq,
                              std::string_view tool_calls_json);
std::string encode_done(std::string_view id, std::uint64_t seq, const done_info& info);
std::string encode_error(std::string_view id, std::uint64_t seq, const error& err);
std::string encode_session(std::string_view id, std::uint64_t seq, bool ok,
                           std::string_view session,
                           const std::optional<std::vector<session_message>>& messages);
std::string encode_frag(std::string_view id, std::uint64_t seq, std::string_view of,
                        std::uint64_t part, std::uint64_t parts, std::string_view data);

// Fixed bytes of a chunk event around its text: everything but the text's escaped characters,
// the text's quotes included. encode_chunk(id, seq, text, reasoning).size() equals
// chunk_overhead(id, seq, reasoning) + json_string_size(text) - 2; with empty text it is the
// whole event.
std::size_t chunk_overhead(std::string_view id, std::uint64_t seq, bool reasoning) noexcept;

// The same for a frag event around its data: encode_frag(id, seq, of, part, parts, data).size()
// equals frag_overhead(id, seq, of, part, parts) + json_string_size(data) - 2.
std::size_t frag_overhead(std::string_view id, std::uint64_t seq, std::string_view of,
                          std::uint64_t part, std::uint64_t parts) noexcept;

}  // namespace llmb::protocol
