// The sessions in memory: per key a session, bounded in count (least recently used evicted), in
// messages per session (oldest whole turns dropped) and in age (expired after ttl unused).
//
// Pure: the time comes in as an argument and nothing here touches files. Whatever a call removes
// (evicted, expired) is handed back as keys, so that the owner can remove the files too
// (session_store.hpp ties this to the files).
//
// Not thread-safe: one owner calls it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/sessions/session.hpp"

namespace llmb {

class session_memory {
public:
    using time_point = std::chrono::system_clock::time_point;

    // max_sessions below 1 counts as 1.
    session_memory(std::size_t max_sessions, std::size_t max_messages, std::chrono::seconds ttl);
    session_memory(const session_memory&) = delete;
    session_memory& operator=(const session_memory&) = delete;

    // The session, nullptr when there is none. Marks it used (last_used = now, most recently
    // used). The pointer is valid until the next call that adds or removes a session. O(log n).
    session* use(const session_key& key, time_point now);
    // The session without marking it used, nullptr when there is none. O(log n).
    const session* peek(const session_key& key) const;

    // Creates an empty session (created = last_used = now), the most recently used. When
    // max_sessions are stored the least recently used are evicted first; their keys are added
    // to `evicted`. The key must not be stored yet. O(log n) per session.
    session& create(const session_key& key, time_point now, std::vector<session_key>& evicted);

    // Stores a session read back from its file, as the most recently used, replacing one with
    // the same key and evicting none (see evict_over_limit). Trims it to max_messages; true when
    // that dropped messages. O(log n + messages).
    bool put(const session_key& key, session value);

    // Adds a finished turn and marks the session used, then drops the oldest whole turns (a user
    // message with the replies after it) while more than max_messages are stored. nullptr, and
    // nothing stored, when there is no session. O(log n + messages).
    session* append(const session_key& key, history_message user, history_message assistant,
                    time_point now);

    // Sets the count of the newest message with this role and content whose count is unknown
    // (0), without marking the session used. nullptr when no message matched or tokens is 0.
    // O(log n + messages).
    session* set_tokens(const session_key& key, std::string_view role, std::string_view content,
                        std::uint32_t tokens);

    // Drops the messages (the system text stays) and marks the session used; nullptr when there
    // is no session. O(log n).
    session* clear(const session_key& key, time_point now);

    // Sets (nullopt: removes) the system text, creating the session like create when there is
    // none, else marking it used. O(log n).
    session& set_system(const session_key& key, std::optional<std::string> system, time_point now,
                        std::vector<session_key>& evicted);

    // Removes the session; false when there was none. O(log n).
    bool erase(const session_key& key);

    // Removes the sessions not used for ttl or longer (last_used + ttl <= now); returns their
    // keys in key order. O(n).
    std::vector<session_key> expire(time_point now);

    // Makes the order of use the order of last_used (oldest first, ties in their present
    // order): after put, as if the sessions had been used at the recorded times. O(n log n).
    void order_by_last_use();

    // Evicts the least recently used while more than max_sessions are stored; returns their
    // keys, least recently used first.
    std::vector<session_key> evict_over_limit();

    // Sessions stored.
    std::size_t size() const noexcept { return sessions_.size(); }

    // A client's sessions in name order, without marking them used. O(log n + k).
    std::vector<session_summary> list(std::string_view project, std::string_view client) const;

private:
    struct entry {
        session value;
        std::list<const session_key*>::iterator lru;
    };
    using map_type = std::map<session_key, entry>;

    map_type::iterator insert(const session_key& key, session value);
    void touch(map_type::iterator it, time_point now);
    void remove(map_type::iterator it);
    void trim(session& s) const;

    std::size_t max_sessions_;
    std::size_t max_messages_;
    std::chrono::seconds ttl_;
    map_type sessions_;
    std::list<const session_key*> lru_;  // front: least recently used
};

}  // namespace llmb
