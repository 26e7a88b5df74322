// Helpers shared by the unit tests of the session store and its files: a clock moved by hand,
// settings, keys and messages, and looking at the files.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "daemon/sessions/session_store.hpp"

namespace llmb::test {

// A wall clock the test moves by hand; whole seconds so that files (in ms) restore it exactly.
struct test_clock {
    llmb::session_store::time_point now =
        llmb::session_store::time_point{} + std::chrono::seconds(1'700'000'000);
    llmb::session_store::clock_fn fn() {
        return [this] { return now; };
    }
};

inline llmb::sessions_config config(std::size_t max_sessions = 100, std::size_t max_messages = 50,
                                    std::chrono::seconds ttl = std::chrono::seconds(3600),
                                    std::string state_dir = {}) {
    llmb::sessions_config cfg;
    cfg.max_sessions = max_sessions;
    cfg.max_messages = max_messages;
    cfg.ttl = ttl;
    cfg.state_dir = std::move(state_dir);
    return cfg;
}

inline llmb::session_key key(std::string session, std::string client = "dev1",
                             std::string project = "llm") {
    return {std::move(project), std::move(client), std::move(session)};
}

inline llmb::history_message u(std::string text, std::uint32_t tokens = 0) {
    return {"user", std::move(text), tokens};
}
inline llmb::history_message a(std::string text, std::uint32_t tokens = 0) {
    return {"assistant", std::move(text), tokens};
}

inline std::vector<std::string> contents(const llmb::session& s) {
    std::vector<std::string> out;
    for (const auto& m : s.messages) {
        out.push_back(m.role + ":" + m.content);
    }
    return out;
}

inline std::filesystem::path file_of(const std::filesystem::path& dir, const llmb::session_key& k) {
    return dir / "sessions" / k.project / k.client / (k.session + ".json");
}

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
}

// Files under dir whose name contains ".tmp.".
inline int tmp_files(const std::filesystem::path& dir) {
    int n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        n += e.path().filename().string().find(".tmp.") != std::string::npos ? 1 : 0;
    }
    return n;
}

inline bool any_contains(const std::vector<std::string>& lines, const std::string& part) {
    for (const auto& l : lines) {
        if (l.find(part) != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace llmb::test
