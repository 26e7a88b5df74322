// Conversation sessions: per (project, client, session) an optional system text and the stored
// user/assistant turns, bounded in count, size and age, optionally persisted as one JSON file per
// session so that conversations survive restarts.
//
// Files live at <state_dir>/sessions/<project>/<client>/<session>.json. Every change rewrites the
// session's file atomically (a temporary file in the same directory, fsync, rename over the old
// one, fsync of the directory), so a crash leaves either the old or the new file, never half of
// one. A use that changes nothing (find) is not written: last_used reaches the disk with the next
// change. I/O never throws out of the store: failures are recorded as warnings (take_warnings)
// and the in-memory state stays what the calls made it.
//
// The memory is authoritative and the files follow it: changes and removals are queued to a
// writer thread (session_writer.hpp), in order per session, the pending states of one session
// coalesced into its newest. Calls never wait for the disk; flush waits for the queue to empty.
//
// Shared (cfg.shared): several bridges use one state_dir. Before each use a session's file is
// checked (one stat); when another bridge replaced it (a different inode, size or time) it is
// read again, and when another bridge removed it the session is gone here too. Turns of one
// session follow each other (a device waits for done), so whole-file replacement is enough:
// the last writer wins.
//
// Shared mode writes before the call returns (on the caller's thread), since another bridge may
// read the file right after.
//
// Not thread-safe: one owner (the event loop) calls it. Reading the files (load, and the stat
// and reads of shared mode) happens inside the calls.
//
// This class ties the parts together: the sessions in memory with their bounds
// (session_memory.hpp, pure), the bytes of a file (session_codec.hpp, pure) and the files
// themselves (session_files.hpp), written here in shared mode and by session_writer otherwise.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/sessions/session.hpp"
#include "daemon/sessions/session_files.hpp"
#include "daemon/sessions/session_memory.hpp"

namespace llmb {

class session_writer;

class session_store {
public:
    using time_point = std::chrono::system_clock::time_point;
    using clock_fn = std::function<time_point()>;

    // Takes state_dir, ttl, max_sessions and max_messages from cfg. The clock stamps created and
    // last_used (wall time, since it must mean the same after a restart). sync_writes = false
    // skips the fsync calls (tests, or file systems where they are too slow).
    session_store(const sessions_config& cfg, clock_fn clock, bool sync_writes = true);
    // Drains the writer (bounded, session_writer::drain_timeout).
    ~session_store();
    session_store(const session_store&) = delete;
    session_store& operator=(const session_store&) = delete;

    // Reads every session file under state_dir (call once, at start; a session already in
    // memory with the same key is replaced). Corrupt or unexpected files are skipped, stale
    // temporary files removed; then expired sessions are dropped and the least recently used
    // ones evicted beyond max_sessions (their files removed). Returns one line per skipped or
    // removed file and per I/O failure. Without a state_dir it does nothing.
    std::vector<std::string> load();

    // The session, nullptr when there is none. Marks it used (last_used = now, most recently
    // used). The pointer is valid until the next non-const call. O(log n).
    const session* find(const session_key& key);

    // The session, created empty (and written) when there is none; creating one when
    // max_sessions are stored first evicts the least recently used. Marks it used. O(log n).
    const session& get_or_create(const session_key& key);

    // Stores a finished turn. Drops the oldest whole turns (a user message with the replies
    // after it) while more than max_messages are stored. False, and nothing stored, when the
    // session does not exist (it was deleted, expired or evicted meanwhile). O(log n + messages).
    bool append(const session_key& key, history_message user, history_message assistant);

    // Sets the server's token count on the newest stored message with this role and content
    // whose count is still unknown (0), for a count that arrives after the turn was stored. The
    // match on role and content makes a message that is gone meanwhile (cleared, trimmed, the
    // session deleted) or a count for other text change nothing. Does not mark the session
    // used. False when no message matched. O(log n + messages).
    bool set_tokens(const session_key& key, std::string_view role, std::string_view content,
                    std::uint32_t tokens);

    // Drops the messages, keeps the system text. False when the session does not exist.
    bool clear(const session_key& key);

    // Removes the session and its file. False when it did not exist.
    bool erase(const session_key& key);

    // Sets (or with nullopt removes) the session's system text, creating the session when
    // there is none (like get_or_create). O(log n).
    const session& set_system(const session_key& key, std::optional<std::string> system);

    // Removes the sessions not used for ttl or longer (last_used + ttl <= now) and their files.
    // Returns how many. O(n).
    std::size_t expire(time_point now);

    // Sessions stored.
    std::size_t size() const noexcept { return memory_.size(); }

    // A client's sessions in name order, without marking them used. O(log n + k).
    std::vector<session_summary> list(std::string_view project, std::string_view client) const;

    // The warnings recorded since the last call (I/O failures, the writer's included), oldest
    // first.
    std::vector<std::string> take_warnings();

    // Waits until every change made so far is on disk, or the timeout passes (false then).
    bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // Called from the writer thread when a write fails while no failure was waiting for
    // take_warnings: the owner hands take_warnings to its own thread.
    void set_on_write_error(std::function<void()> fn);

private:
    // Drops the files of sessions that memory evicted or expired.
    void forget(const std::vector<session_key>& keys);
    void warn_if_not_storable(const session_key& key);
    void persist(const session_key& key, const session& s);
    void remove_file(const session_key& key);
    bool load_file(const std::string& path, const session_key& key);
    void warn(std::string message);
    // Shared: brings the session in line with its file (read again, or gone).
    void refresh(const session_key& key);

    std::string state_dir_;
    clock_fn clock_;
    bool sync_writes_;
    bool shared_;
    session_memory memory_;
    std::map<session_key, file_stamp> stamps_;  // shared: each file as this store last saw it
    std::vector<std::string> warnings_;
    std::size_t warnings_dropped_ = 0;
    std::unique_ptr<session_writer> writer_;  // with a state_dir, not shared
};

}  // namespace llmb
