// Decoding and validation of device requests (llm/request/{client}, llm/cancel/{client}).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace llmb::protocol {

struct request_limits {
    std::size_t max_request_bytes = 256 * 1024;  // larger payloads: too_large
    std::size_t max_messages = 512;              // more chat messages: too_large
    std::uint32_t max_tokens = 32768;            // larger max_tokens: too_large
    std::size_t max_stop = 8;                    // more stop strings: bad_request
    std::uint32_t max_flush_ms = 10000;          // larger flush_ms: bad_request
    std::uint32_t min_packet = 128;              // smaller max_packet: bad_request
};

struct chat_message {
    std::string role;      // system | user | assistant | tool
    std::string content;   // the text of the message (text parts joined); empty when null
    std::string raw_json;  // the validated message object, compact JSON, sent upstream unchanged
};

struct request {
    std::string id;
    bool id_generated = false;
    std::vector<chat_message> messages;  // never empty ("prompt" becomes one user message)
    std::optional<std::string> session;
    std::optional<std::string> model;
    std::optional<double> temperature;  // 0..2
    std::optional<double> top_p;        // 0..1
    std::optional<std::uint32_t> max_tokens;
    std::vector<std::string> stop;
    std::optional<std::int64_t> seed;
    std::string tools_json;        // compact JSON array; empty when the request has no tools
    std::string tool_choice_json;  // compact JSON (string or object); empty when absent
    bool stream = true;
    std::optional<std::uint32_t> max_packet;
    std::uint32_t flush_ms = 0;

    // Tools or stream:false: the answer is relayed as one whole response.
    bool whole_mode() const noexcept { return !stream || !tools_json.empty(); }
};

struct decoded_request {
    std::string id;  // the request's id, or generated_id when it had none/unreadable
    bool id_generated = false;
    std::optional<request> req;  // set on success
    std::optional<error> err;    // set on failure (bad_request or too_large)
};

// True when s matches [A-Za-z0-9_.-]{1,64}: the rule for client, id and session names.
bool valid_name(std::string_view s) noexcept;

// Decodes and validates one request payload. generated_id is used when the payload has no id
// (or cannot be read far enough to find one). Never throws.
decoded_request decode_request(std::string_view payload, const request_limits& limits,
                               std::string_view generated_id);

struct decoded_cancel {
    std::optional<std::string> id;  // the request to cancel
    std::optional<error> err;       // bad_request when the payload is not {"id":"<valid name>"}
};

decoded_cancel decode_cancel(std::string_view payload);

}  // namespace llmb::protocol
