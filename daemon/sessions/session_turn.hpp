// The prompt of one request in a session: the system text, the part of the stored history that
// fits into the model's context, and the request's own messages; and what it takes to cut the
// history further when the LLM server still refuses the prompt as too long. Pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/sessions/history_trim.hpp"
#include "daemon/sessions/session_store.hpp"
#include "protocol/request.hpp"

namespace llmb {

struct session_turn {
    session_key key;
    std::optional<protocol::chat_message> system;  // sent first when set
    std::vector<history_message> history;          // the stored history, oldest first
    std::vector<protocol::chat_message> fresh;     // the request's non-system messages
    std::optional<std::string> user_text;  // the request's last user message: stored after done
    std::string model;  // the model the request asks for (after project defaults); may be ""

    std::uint32_t system_tokens = 0;  // estimates (history_trim.hpp)
    std::uint32_t fresh_tokens = 0;
    std::uint32_t max_tokens = 0;  // room kept for the answer
    std::uint32_t context_tokens = 0;

    std::size_t first_kept = 0;  // history[first_kept..] is sent
    bool fits = true;            // false: even system + fresh + max_tokens exceed the context
    bool retried = false;        // the history was already cut further once
};

// Plans a session request. The system text is the session's own (set_system) when it has one,
// else the request's first system message, else project_system (none when empty); the request's
// other system messages are left out. History is trimmed with trim_history; when not even the
// request's own messages fit, no history is sent and the server decides.
session_turn plan_turn(session_key key, const std::optional<std::string>& session_system,
                       const std::vector<history_message>& history, const protocol::request& req,
                       const std::string& project_system, std::uint32_t context_tokens,
                       std::uint32_t max_tokens);

// The messages to send: system, history[first_kept..], fresh.
std::vector<protocol::chat_message> turn_messages(const session_turn& turn);

// Stored messages sent with the request.
inline std::size_t kept_messages(const session_turn& turn) noexcept {
    return turn.history.size() - turn.first_kept;
}

// Cuts the history further (trim_harder) and marks the turn retried. Returns how many more
// stored messages are left out; 0 when nothing was sent that could go.
std::size_t trim_turn_harder(session_turn& turn);

// Whether an upstream HTTP error says that the prompt does not fit the model's context:
// llama-server's exceed_context_size_error, OpenAI's context_length_exceeded, or an HTTP 400
// whose error message mentions the context (vLLM: "maximum context length").
bool context_exceeded(long http_status, std::string_view body);

}  // namespace llmb
