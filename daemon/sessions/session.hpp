// What a conversation session is, shared by the store in memory (session_memory.hpp), the file
// format (session_codec.hpp), the files (session_files.hpp) and the store that ties them
// together (session_store.hpp).
#pragma once

#include <chrono>
#include <compare>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "daemon/sessions/history_trim.hpp"

namespace llmb {

// All three are protocol::valid_name ([A-Za-z0-9_.-]{1,64}), hence safe as file names. A key
// that is not is kept in memory only (with a warning).
struct session_key {
    std::string project;
    std::string client;
    std::string session;

    friend auto operator<=>(const session_key&, const session_key&) = default;
    friend bool operator==(const session_key&, const session_key&) = default;
};

struct session {
    std::optional<std::string> system;      // set_system; sent instead of the project's prompt
    std::vector<history_message> messages;  // oldest first; always starts a turn (a user message)
    std::chrono::system_clock::time_point created;
    std::chrono::system_clock::time_point last_used;
};

struct session_summary {
    std::string session;
    std::size_t messages = 0;
    bool has_system = false;
    std::chrono::system_clock::time_point last_used;
};

}  // namespace llmb
