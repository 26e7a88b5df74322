// Decoding of OpenAI-compatible chat completion responses: stream chunks, whole responses and
// error bodies, as llama-server, vLLM, Ollama and OpenAI send them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "envelope.hpp"
#include "error.hpp"
#include "sse.hpp"

namespace llmb::protocol {

struct tool_call_delta {
    std::uint32_t index = 0;
    std::string id;         // may be empty after the first fragment
    std::string type;       // "function"
    std::string name;       // may be empty after the first fragment
    std::string arguments;  // fragment to append
};

struct stream_delta {
    std::string content;    // choices[0].delta.content
    std::string reasoning;  // delta.reasoning_content (llama-server) or delta.reasoning (Ollama)
    std::vector<tool_call_delta> tool_calls;
    std::optional<std::string> finish_reason;
    std::optional<token_usage> usage;
    std::string model;                     // "model" of the chunk when present
    bool done = false;                     // data: [DONE]
    std::optional<std::string> error;      // an error object/line in the stream: its message
    std::optional<std::string> malformed;  // the event could not be read: why
};

// Decodes one SSE event of a chat completion stream. Never throws.
stream_delta decode_stream_event(const sse_event& ev);

// Joins streamed tool call fragments per index into an OpenAI tool_calls array.
class tool_call_accumulator {
public:
    void add(const std::vector<tool_call_delta>& deltas);
    bool empty() const noexcept { return calls_.empty(); }
    // [{"id":..,"type":"function","function":{"name":..,"arguments":".."}}, ...] by index.
    std::string to_json() const;

private:
    struct call {
        std::uint32_t index;
        std::string id, type, name, arguments;
    };
    std::vector<call> calls_;
};

struct whole_response {
    std::string content;
    std::string reasoning;
    std::string tool_calls_json;  // empty when none
    std::string finish_reason;
    std::optional<token_usage> usage;
    std::string model;
    std::optional<std::string> error;  // an error object in the body
    std::optional<std::string> malformed;
};

// Decodes a non-streamed chat completion body (stream:false). Never throws.
whole_response decode_whole_response(std::string_view body);

// The message of an HTTP error body ({"error":{"message":..}}, {"error":".."}, {"message":..}
// or plain text), shortened to a sensible length, for an upstream_error event.
std::string decode_error_body(long http_status, std::string_view body);

}  // namespace llmb::protocol
