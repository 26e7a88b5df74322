// The session files on disk: <state_dir>/sessions/<project>/<client>/<session>.json, in the
// format of session_codec.hpp.
//
// A file is replaced atomically: written to a temporary file in the same directory
// ("<session>.json.tmp.<pid>"), fsync, renamed over the old one, fsync of the directory; so a
// crash leaves the old or the new file, never half of one, and at most a stale temporary file
// that the next scan removes. sync = false skips the fsync calls (tests, or file systems where
// they are too slow).
//
// Failures come back as one line each, for the owner's warnings; nothing here throws or logs.
// Safe to call from any thread for different files (session_writer.hpp calls them from its
// own).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "daemon/sessions/session.hpp"

namespace llmb {

// True when the key's three names may be file names (protocol::valid_name each).
bool storable(const session_key& key);

// The path of the key's file.
std::string session_file_path(const std::string& state_dir, const session_key& key);

// Writes the session's file atomically, creating its directories. The failure, nullopt when it
// worked.
std::optional<std::string> save_session_file(const std::string& state_dir, const session_key& key,
                                             const session& value, bool sync);

// Removes the session's file (a missing one is no failure), then the client's and the project's
// directories when that left them empty. The failure, nullopt when it worked.
std::optional<std::string> remove_session_file(const std::string& state_dir, const session_key& key,
                                               bool sync);

// The whole content of a file, nullopt when it cannot be read.
std::optional<std::string> read_session_file(const std::string& path);

// What identifies one version of a file: a file replaced by another writer has another inode,
// time or size.
struct file_stamp {
    std::uint64_t inode = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t size = -1;
    friend bool operator==(const file_stamp&, const file_stamp&) = default;
};

// The file's stamp; nullopt when stat fails, with missing set when the file does not exist.
std::optional<file_stamp> stamp_of(const std::string& path, bool& missing);

// Walks <state_dir>/sessions in name order (deterministic, warnings included): calls on_file for
// every regular file at a session's place with valid names, removes stale temporary files, and
// warns of everything else (which stays for a human to look at) and of what cannot be read.
// Nothing happens when there is no sessions directory.
void scan_session_files(
    const std::string& state_dir,
    const std::function<void(const session_key& key, const std::string& path)>& on_file,
    const std::function<void(std::string)>& warn);

}  // namespace llmb
