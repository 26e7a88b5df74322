// Session files written off the event loop: one thread takes the changes from a queue and
// performs them (session_files.hpp: the atomic write, temporary file, fsync, rename, fsync of
// the directory; or the removal of the file), so that a slow disk never stalls the streams on
// the loop.
//
// Order: the queue holds at most one pending change per session, the newest. A change queued
// while an older one of the same session waits replaces it (coalescing): the file goes from one
// state to a newer one, never back to an older one. One thread performs them one at a time, so
// a session's changes reach the disk in the order they were made, a removal included.
//
// Bound: pending changes <= sessions changed since the thread last caught up, at most one copy
// of each session (max_sessions bounds it). A disk slower than the changes only makes the
// writes coarser (more states of a session skipped), never the queue longer.
//
// Errors are not logged here: they are kept (take_errors) and on_error is called (from the
// writer thread) when the first one arrives since the last take_errors, so that the owner can
// hand the logging to its own thread. The thread and the owner share only this queue.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/sessions/session.hpp"

namespace llmb {

class session_writer {
public:
    // Starts the thread. sync = false skips the fsync calls.
    session_writer(std::string state_dir, bool sync);
    // Drains (up to drain_timeout), then drops what is still pending and joins the thread.
    ~session_writer();
    session_writer(const session_writer&) = delete;
    session_writer& operator=(const session_writer&) = delete;

    static constexpr std::chrono::milliseconds drain_timeout{5000};

    // Called from the writer thread when an error is kept and none was waiting.
    void set_on_error(std::function<void()> fn);

    // Queues the session's new state (replacing a pending older one).
    void write(const session_key& key, session value);
    // Queues the removal of the session's file (replacing a pending write).
    void remove(const session_key& key);

    // Waits until every change queued so far is on disk or the timeout passes. True when the
    // queue is empty and the thread idle.
    bool drain(std::chrono::milliseconds timeout);

    // Changes performed (files written or removed, failed ones included) since the start.
    std::size_t performed();

    // The failures since the last call, oldest first (at most max_errors, then a count).
    std::vector<std::string> take_errors();

private:
    static constexpr std::size_t max_errors = 100;

    void run();
    void enqueue(const session_key& key, std::optional<session> value);

    const std::string state_dir_;
    const bool sync_;
    std::mutex mutex_;
    std::condition_variable work_;                           // the thread waits for changes
    std::condition_variable idle_;                           // drain waits for an empty queue
    std::map<session_key, std::optional<session>> pending_;  // nullopt: remove
    std::deque<session_key> order_;                          // pending_'s keys, oldest first
    bool busy_ = false;                                      // the thread is performing a change
    std::size_t performed_ = 0;
    bool stopping_ = false;
    std::vector<std::string> errors_;
    std::size_t errors_dropped_ = 0;
    std::function<void()> on_error_;
    std::thread thread_;  // last: started once everything above exists
};

}  // namespace llmb
