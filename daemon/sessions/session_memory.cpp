// Sessions in memory with LRU order, TTL and bounds (see session_memory.hpp).
#include "daemon/sessions/session_memory.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace llmb {

namespace {

// Drops whole turns from the front: leading replies first (the history must start a turn),
// then the oldest turns while more than max_messages remain.
void drop_oldest_turns(std::vector<history_message>& messages, std::size_t max_messages) {
    const std::size_t n = messages.size();
    std::size_t cut = 0;
    while (cut < n && !starts_turn(messages[cut])) {
        ++cut;
    }
    while (n - cut > max_messages) {
        ++cut;
        while (cut < n && !starts_turn(messages[cut])) {
            ++cut;
        }
    }
    messages.erase(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(cut));
}

}  // namespace

session_memory::session_memory(std::size_t max_sessions, std::size_t max_messages,
                               std::chrono::seconds ttl)
    : max_sessions_(std::max<std::size_t>(max_sessions, 1)),
      max_messages_(max_messages),
      ttl_(ttl) {}

session* session_memory::use(const session_key& key, time_point now) {
    const auto it = sessions_.find(key);
    if (it == sessions_.end()) {
        return nullptr;
    }
    touch(it, now);
    return &it->second.value;
}

const session* session_memory::peek(const session_key& key) const {
    const auto it = sessions_.find(key);
    return it == sessions_.end() ? nullptr : &it->second.value;
}

session& session_memory::create(const session_key& key, time_point now,
                                std::vector<session_key>& evicted) {
    while (sessions_.size() >= max_sessions_ && !lru_.empty()) {
        evicted.push_back(*lru_.front());
        remove(sessions_.find(*lru_.front()));
    }
    session s;
    s.created = now;
    s.last_used = now;
    return insert(key, std::move(s))->second.value;
}

bool session_memory::put(const session_key& key, session value) {
    erase(key);
    auto& s = insert(key, std::move(value))->second.value;
    const std::size_t stored = s.messages.size();
    trim(s);
    return s.messages.size() != stored;
}

session* session_memory::append(const session_key& key, history_message user,
                                history_message assistant, time_point now) {
    session* s = use(key, now);
    if (s == nullptr) {
        return nullptr;
    }
    s->messages.push_back(std::move(user));
    s->messages.push_back(std::move(assistant));
    trim(*s);
    return s;
}

session* session_memory::set_tokens(const session_key& key, std::string_view role,
                                    std::string_view content, std::uint32_t tokens) {
    const auto it = sessions_.find(key);
    if (it == sessions_.end() || tokens == 0) {
        return nullptr;
    }
    auto& messages = it->second.value.messages;
    for (auto m = messages.rbegin(); m != messages.rend(); ++m) {
        if (m->tokens == 0 && m->role == role && m->content == content) {
            m->tokens = tokens;
            return &it->second.value;
        }
    }
    return nullptr;
}

session* session_memory::clear(const session_key& key, time_point now) {
    session* s = use(key, now);
    if (s != nullptr) {
        s->messages.clear();
    }
    return s;
}

session& session_memory::set_system(const session_key& key, std::optional<std::string> system,
                                    time_point now, std::vector<session_key>& evicted) {
    session* s = use(key, now);
    if (s == nullptr) {
        s = &create(key, now, evicted);
    }
    s->system = std::move(system);
    return *s;
}

bool session_memory::erase(const session_key& key) {
    const auto it = sessions_.find(key);
    if (it == sessions_.end()) {
        return false;
    }
    remove(it);
    return true;
}

std::vector<session_key> session_memory::expire(time_point now) {
    std::vector<session_key> removed;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        const auto next = std::next(it);
        if (it->second.value.last_used + ttl_ <= now) {
            removed.push_back(it->first);
            remove(it);
        }
        it = next;
    }
    return removed;
}

void session_memory::order_by_last_use() {
    lru_.sort([this](const session_key* a, const session_key* b) {
        return sessions_.at(*a).value.last_used < sessions_.at(*b).value.last_used;
    });
}

std::vector<session_key> session_memory::evict_over_limit() {
    std::vector<session_key> evicted;
    while (sessions_.size() > max_sessions_) {
        evicted.push_back(*lru_.front());
        remove(sessions_.find(*lru_.front()));
    }
    return evicted;
}

std::vector<session_summary> session_memory::list(std::string_view project,
                                                  std::string_view client) const {
    std::vector<session_summary> out;
    const session_key first{std::string(project), std::string(client), std::string()};
    for (auto it = sessions_.lower_bound(first);
         it != sessions_.end() && it->first.project == project && it->first.client == client;
         ++it) {
        const auto& s = it->second.value;
        out.push_back({it->first.session, s.messages.size(), s.system.has_value(), s.last_used});
    }
    return out;
}

session_memory::map_type::iterator session_memory::insert(const session_key& key, session value) {
    const auto it = sessions_.emplace(key, entry{std::move(value), {}}).first;
    it->second.lru = lru_.insert(lru_.end(), &it->first);
    return it;
}

void session_memory::touch(map_type::iterator it, time_point now) {
    it->second.value.last_used = now;
    lru_.splice(lru_.end(), lru_, it->second.lru);
}

void session_memory::remove(map_type::iterator it) {
    lru_.erase(it->second.lru);
    sessions_.erase(it);
}

void session_memory::trim(session& s) const {
    drop_oldest_turns(s.messages, max_messages_);
}

}  // namespace llmb
