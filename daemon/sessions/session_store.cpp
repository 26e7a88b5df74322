// Sessions in memory, kept in line with their files (see session_store.hpp).
#include "daemon/sessions/session_store.hpp"

#include <utility>

#include "daemon/sessions/session_codec.hpp"
#include "daemon/sessions/session_writer.hpp"

namespace llmb {

namespace {

constexpr std::size_t max_warnings = 100;

}  // namespace

session_store::session_store(const sessions_config& cfg, clock_fn clock, bool sync_writes)
    : state_dir_(cfg.state_dir),
      clock_(std::move(clock)),
      sync_writes_(sync_writes),
      shared_(cfg.shared && !cfg.state_dir.empty()),
      memory_(cfg.max_sessions, cfg.max_messages, cfg.ttl) {
    // Shared: another bridge may read the file as soon as the turn is done, so it is written
    // before the call returns.
    if (!state_dir_.empty() && !shared_)
        writer_ = std::make_unique<session_writer>(state_dir_, sync_writes_);
}

session_store::~session_store() = default;

void session_store::refresh(const session_key& key) {
    if (!shared_ || !storable(key))
        return;
    const std::string path = session_file_path(state_dir_, key);
    const bool known = memory_.peek(key) != nullptr;
    bool missing = false;
    const auto stamp = stamp_of(path, missing);
    if (!stamp) {
        if (known && missing) {  // removed by another bridge
            memory_.erase(key);
            stamps_.erase(key);
        }
        return;
    }
    const auto seen = stamps_.find(key);
    if (known && seen != stamps_.end() && seen->second == *stamp)
        return;
    if (load_file(path, key))
        stamps_[key] = *stamp;
}

const session* session_store::find(const session_key& key) {
    refresh(key);
    return memory_.use(key, clock_());
}

const session& session_store::get_or_create(const session_key& key) {
    refresh(key);
    const auto t = clock_();
    if (const session* s = memory_.use(key, t))
        return *s;
    std::vector<session_key> evicted;
    const session& s = memory_.create(key, t, evicted);
    forget(evicted);
    warn_if_not_storable(key);
    persist(key, s);
    return s;
}

bool session_store::append(const session_key& key, history_message user,
                           history_message assistant) {
    refresh(key);
    const session* s = memory_.append(key, std::move(user), std::move(assistant), clock_());
    if (s == nullptr)
        return false;
    persist(key, *s);
    return true;
}

bool session_store::set_tokens(const session_key& key, std::string_view role,
                               std::string_view content, std::uint32_t tokens) {
    refresh(key);
    const session* s = memory_.set_tokens(key, role, content, tokens);
    if (s == nullptr)
        return false;
    persist(key, *s);
    return true;
}

bool session_store::clear(const session_key& key) {
    refresh(key);
    const session* s = memory_.clear(key, clock_());
    if (s == nullptr)
        return false;
    persist(key, *s);
    return true;
}

bool session_store::erase(const session_key& key) {
    refresh(key);
    if (!memory_.erase(key))
        return false;
    remove_file(key);
    return true;
}

const session& session_store::set_system(const session_key& key,
                                         std::optional<std::string> system) {
    refresh(key);
    const bool created = memory_.peek(key) == nullptr;
    std::vector<session_key> evicted;
    const session& s = memory_.set_system(key, std::move(system), clock_(), evicted);
    forget(evicted);
    if (created)
        warn_if_not_storable(key);
    persist(key, s);
    return s;
}

std::size_t session_store::expire(time_point now) {
    const auto removed = memory_.expire(now);
    forget(removed);
    return removed.size();
}

std::vector<session_summary> session_store::list(std::string_view project,
                                                 std::string_view client) const {
    return memory_.list(project, client);
}

std::vector<std::string> session_store::take_warnings() {
    if (writer_) {
        for (auto& why : writer_->take_errors())
            warn(std::move(why));
    }
    if (warnings_dropped_ > 0) {
        warnings_.push_back(std::to_string(warnings_dropped_) + " more warnings not kept");
        warnings_dropped_ = 0;
    }
    return std::exchange(warnings_, {});
}

bool session_store::flush(std::chrono::milliseconds timeout) {
    return !writer_ || writer_->drain(timeout);
}

void session_store::set_on_write_error(std::function<void()> fn) {
    if (writer_)
        writer_->set_on_error(std::move(fn));
}

void session_store::forget(const std::vector<session_key>& keys) {
    for (const auto& key : keys) {
        remove_file(key);
    }
}

void session_store::warn_if_not_storable(const session_key& key) {
    if (!state_dir_.empty() && !storable(key)) {
        warn("session " + key.project + "/" + key.client + "/" + key.session +
             " has a name not allowed in files: kept in memory only");
    }
}

void session_store::persist(const session_key& key, const session& s) {
    if (state_dir_.empty() || !storable(key)) {
        return;
    }
    if (writer_) {
        writer_->write(key, s);
        return;
    }
    if (auto why = save_session_file(state_dir_, key, s, sync_writes_))
        warn(std::move(*why));
    if (shared_) {
        // Our own write is not a change by another bridge.
        bool missing = false;
        const auto stamp = stamp_of(session_file_path(state_dir_, key), missing);
        if (memory_.peek(key) != nullptr && stamp)
            stamps_[key] = *stamp;
    }
}

void session_store::remove_file(const session_key& key) {
    stamps_.erase(key);
    if (state_dir_.empty() || !storable(key)) {
        return;
    }
    if (writer_) {
        writer_->remove(key);
        return;
    }
    if (auto why = remove_session_file(state_dir_, key, sync_writes_))
        warn(std::move(*why));
}

void session_store::warn(std::string message) {
    if (warnings_.size() < max_warnings) {
        warnings_.push_back(std::move(message));
    } else {
        ++warnings_dropped_;
    }
}

bool session_store::load_file(const std::string& path, const session_key& key) {
    const auto text = read_session_file(path);
    if (!text) {
        warn("skipped " + path + ": cannot be read");
        return false;
    }
    auto decoded = decode_session_file(*text, key);
    if (!decoded.value) {
        warn("skipped " + path + ": " + std::string(describe(decoded.error)));
        return false;
    }
    // Read back: not yet known to match the file (refresh records the stamp it read).
    stamps_.erase(key);
    if (memory_.put(key, std::move(*decoded.value))) {
        persist(key, *memory_.peek(key));  // trimmed to max_messages: written back
    }
    return true;
}

std::vector<std::string> session_store::load() {
    if (state_dir_.empty()) {
        return take_warnings();
    }
    scan_session_files(
        state_dir_,
        [this](const session_key& key, const std::string& path) { load_file(path, key); },
        [this](std::string why) { warn(std::move(why)); });
    // Least recently used first, as if the sessions had been used in the recorded order.
    memory_.order_by_last_use();
    expire(clock_());
    forget(memory_.evict_over_limit());
    return take_warnings();
}

}  // namespace llmb
