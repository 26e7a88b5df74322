// Decoding and validation of session operations (llm/session/{client}):
//   {"id":"q1","op":"get"|"clear"|"delete"|"set_system","session":"s1","system":"..."}
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"

namespace llmb::protocol {

// Largest session op payload, and largest "system" text of a set_system.
inline constexpr std::size_t max_session_op_bytes = 80 * 1024;
inline constexpr std::size_t max_session_system_bytes = 64 * 1024;

enum class session_op_kind {
    get,         // the stored messages
    clear,       // drop the messages, keep the session's system text
    erase,       // "delete": remove the session altogether
    set_system,  // set the session's own system text ("" removes it)
};

// The op as it appears on the wire ("get", "clear", "delete", "set_system").
std::string_view to_string(session_op_kind op) noexcept;

struct session_op {
    std::string id;
    bool id_generated = false;
    session_op_kind op = session_op_kind::get;
    std::string session;
    std::optional<std::string> system;  // set for set_system only
};

struct decoded_session_op {
    std::string id;  // the op's id, or generated_id when it had none or it was unreadable
    bool id_generated = false;
    std::optional<session_op> op;  // set on success
    std::optional<error> err;      // set on failure (bad_request)
};

// Decodes and validates one session op payload. Rules, checked in this order:
//   1. At most max_session_op_bytes bytes, valid UTF-8, a JSON object (not nested deeper than
//      64 levels). Fields whose value is null count as absent; unknown fields are ignored.
//   2. "id" (optional): [A-Za-z0-9_.-]{1,64}; generated_id when absent. An invalid id is
//      reported under generated_id.
//   3. "op": one of "get", "clear", "delete", "set_system".
//   4. "session": [A-Za-z0-9_.-]{1,64}, required.
//   5. "system": a string of at most max_session_system_bytes bytes, required for set_system
//      and refused for every other op.
// Every failure is a bad_request whose message names the field. Never throws.
decoded_session_op decode_session_op(std::string_view payload, std::string_view generated_id);

}  // namespace llmb::protocol
