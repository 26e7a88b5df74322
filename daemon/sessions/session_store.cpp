// Sessions in memory with LRU order, TTL and per-session files (see session_store.hpp).
#include "daemon/sessions/session_store.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "daemon/sessions/session_writer.hpp"
#include "protocol/request.hpp"

namespace llmb {

namespace fs = std::filesystem;

namespace {

constexpr int file_version = 1;
constexpr std::size_t max_warnings = 100;
constexpr std::string_view json_suffix = ".json";
constexpr std::string_view tmp_marker = ".tmp.";

bool valid_key(const session_key& key) {
    return protocol::valid_name(key.project) && protocol::valid_name(key.client) &&
           protocol::valid_name(key.session);
}

fs::path session_dir(const std::string& state_dir, const session_key& key) {
    return fs::path(state_dir) / "sessions" / key.project / key.client;
}

// "<name>.tmp.<digits>": what an interrupted write leaves behind.
bool is_tmp_name(std::string_view name) {
    const auto pos = name.rfind(tmp_marker);
    if (pos == std::string_view::npos || pos == 0 || pos + tmp_marker.size() == name.size()) {
        return false;
    }
    const auto digits = name.substr(pos + tmp_marker.size());
    return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

session_store::time_point from_ms(std::int64_t ms) {
    return session_store::time_point(
        std::chrono::duration_cast<session_store::time_point::duration>(
            std::chrono::milliseconds(ms)));
}

// The session in a file's text, or nullopt with why set.
std::optional<session> decode(const std::string& text, const session_key& key, std::string& why) {
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        why = "not a JSON object";
        return std::nullopt;
    }
    const auto field = [&](const char* name) -> const nlohmann::json* {
        const auto it = doc.find(name);
        return it == doc.end() ? nullptr : &*it;
    };
    const auto* version = field("version");
    if (version == nullptr || !version->is_number_integer() || *version != file_version) {
        why = "unknown or missing version";
        return std::nullopt;
    }
    const auto* project = field("project");
    const auto* client = field("client");
    const auto* name = field("session");
    if (project == nullptr || client == nullptr || name == nullptr || *project != key.project ||
        *client != key.client || *name != key.session) {
        why = "project/client/session do not match the file's place";
        return std::nullopt;
    }
    session s;
    const auto* system = field("system");
    if (system != nullptr && system->is_string()) {
        s.system = system->get<std::string>();
    } else if (system != nullptr && !system->is_null()) {
        why = "system is not a string";
        return std::nullopt;
    }
    const auto* created = field("created_ms");
    const auto* last_used = field("last_used_ms");
    if (created == nullptr || !created->is_number_integer() || last_used == nullptr ||
        !last_used->is_number_integer()) {
        why = "created_ms/last_used_ms missing";
        return std::nullopt;
    }
    s.created = from_ms(created->get<std::int64_t>());
    s.last_used = from_ms(last_used->get<std::int64_t>());
    const auto* messages = field("messages");
    if (messages == nullptr || !messages->is_array()) {
        why = "messages is not an array";
        return std::nullopt;
    }
    for (const auto& m : *messages) {
        const auto role = m.find("role");
        const auto content = m.find("content");
        const auto tokens = m.find("tokens");
        if (!m.is_object() || role == m.end() || !role->is_string() || content == m.end() ||
            !content->is_string() || tokens == m.end() || !tokens->is_number_unsigned() ||
            tokens->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
            why = "a message is not {role, content, tokens}";
            return std::nullopt;
        }
        s.messages.push_back(
            {role->get<std::string>(), content->get<std::string>(), tokens->get<std::uint32_t>()});
    }
    return s;
}

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

session_store::session_store(const sessions_config& cfg, clock_fn clock, bool sync_writes)
    : state_dir_(cfg.state_dir),
      ttl_(cfg.ttl),
      max_sessions_(std::max<std::size_t>(cfg.max_sessions, 1)),
      max_messages_(cfg.max_messages),
      clock_(std::move(clock)),
      sync_writes_(sync_writes),
      shared_(cfg.shared && !cfg.state_dir.empty()) {
    // Shared: another bridge may read the file as soon as the turn is done, so it is written
    // before the call returns.
    if (!state_dir_.empty() && !shared_)
        writer_ = std::make_unique<session_writer>(state_dir_, sync_writes_);
}

session_store::~session_store() = default;

std::string session_store::file_of(const session_key& key) const {
    return (session_dir(state_dir_, key) / (key.session + std::string(json_suffix))).string();
}

std::optional<session_store::file_stamp> session_store::stamp_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return std::nullopt;
    return file_stamp{static_cast<std::uint64_t>(st.st_ino),
                      std::int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                      static_cast<std::int64_t>(st.st_size)};
}

void session_store::refresh(const session_key& key) {
    if (!shared_ || !valid_key(key))
        return;
    const std::string path = file_of(key);
    const auto it = sessions_.find(key);
    const auto now = stamp_of(path);
    if (!now) {
        if (it != sessions_.end() && errno == ENOENT) {  // removed by another bridge
            lru_.erase(it->second.lru);
            sessions_.erase(it);
        }
        return;
    }
    if (it != sessions_.end() && it->second.stamp == *now)
        return;
    if (load_file(path, key))
        sessions_.find(key)->second.stamp = *now;
}

const session* session_store::find(const session_key& key) {
    refresh(key);
    const auto it = sessions_.find(key);
    if (it == sessions_.end()) {
        return nullptr;
    }
    touch(it, clock_());
    return &it->second.value;
}

const session& session_store::get_or_create(const session_key& key) {
    refresh(key);
    auto it = sessions_.find(key);
    if (it != sessions_.end()) {
        touch(it, clock_());
        return it->second.value;
    }
    it = create(key, clock_());
    persist(key, it->second.value);
    return it->second.value;
}

bool session_store::append(const session_key& key, history_message user,
                           history_message assistant) {
    refresh(key);
    const auto it = sessions_.find(key);
    if (it == sessions_.end()) {
        return false;
    }
    touch(it, clock_());
    auto& s = it->second.value;
    s.messages.push_back(std::move(user));
    s.messages.push_back(std::move(assistant));
    trim_messages(s);
    persist(key, s);
    return true;
}

bool session_store::set_tokens(const session_key& key, std::string_view role,
                               std::string_view content, std::uint32_t tokens) {
    refresh(key);
    const auto it = sessions_.find(key);
    if (it == sessions_.end() || tokens == 0) {
        return false;
    }
    auto& messages = it->second.value.messages;
    for (auto m = messages.rbegin(); m != messages.rend(); ++m) {
        if (m->tokens == 0 && m->role == role && m->content == content) {
            m->tokens = tokens;
            persist(key, it->second.value);
            return true;
        }
    }
    return false;
}

bool session_store::clear(const session_key& key) {
    refresh(key);
    const auto it = sessions_.find(key);
    if (it == sessions_.end()) {
        return false;
    }
    touch(it, clock_());
    it->second.value.messages.clear();
    persist(key, it->second.value);
    return true;
}

bool session_store::erase(const session_key& key) {
    refresh(key);
    const auto it = sessions_.find(key);
    if (it == sessions_.end()) {
        return false;
    }
    remove(it);
    return true;
}

const session& session_store::set_system(const session_key& key,
                                         std::optional<std::string> system) {
    refresh(key);
    const auto now = clock_();
    auto it = sessions_.find(key);
    if (it == sessions_.end()) {
        it = create(key, now);
    } else {
        touch(it, now);
    }
    it->second.value.system = std::move(system);
    persist(key, it->second.value);
    return it->second.value;
}

std::size_t session_store::expire(time_point now) {
    std::size_t removed = 0;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        const auto next = std::next(it);
        if (it->second.value.last_used + ttl_ <= now) {
            remove(it);
            ++removed;
        }
        it = next;
    }
    return removed;
}

std::vector<session_summary> session_store::list(std::string_view project,
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

session_store::map_type::iterator session_store::create(const session_key& key, time_point now) {
    while (sessions_.size() >= max_sessions_ && !lru_.empty()) {
        remove(sessions_.find(*lru_.front()));
    }
    const auto it = sessions_.emplace(key, entry{}).first;
    it->second.value.created = now;
    it->second.value.last_used = now;
    it->second.lru = lru_.insert(lru_.end(), &it->first);
    if (!state_dir_.empty() && !valid_key(key)) {
        warn("session " + key.project + "/" + key.client + "/" + key.session +
             " has a name not allowed in files: kept in memory only");
    }
    return it;
}

void session_store::touch(map_type::iterator it, time_point now) {
    it->second.value.last_used = now;
    lru_.splice(lru_.end(), lru_, it->second.lru);
}

void session_store::remove(map_type::iterator it) {
    remove_file(it->first);
    lru_.erase(it->second.lru);
    sessions_.erase(it);
}

void session_store::trim_messages(session& s) const {
    drop_oldest_turns(s.messages, max_messages_);
}

void session_store::persist(const session_key& key, const session& s) {
    if (state_dir_.empty() || !valid_key(key)) {
        return;
    }
    if (writer_) {
        writer_->write(key, s);
        return;
    }
    for (auto& why : session_writer::apply(state_dir_, sync_writes_, key, &s))
        warn(std::move(why));
    if (shared_) {
        // Our own write is not a change by another bridge.
        const auto it = sessions_.find(key);
        const auto stamp = stamp_of(file_of(key));
        if (it != sessions_.end() && stamp)
            it->second.stamp = *stamp;
    }
}

void session_store::remove_file(const session_key& key) {
    if (state_dir_.empty() || !valid_key(key)) {
        return;
    }
    if (writer_) {
        writer_->remove(key);
        return;
    }
    for (auto& why : session_writer::apply(state_dir_, sync_writes_, key, nullptr))
        warn(std::move(why));
}

bool session_store::flush(std::chrono::milliseconds timeout) {
    return !writer_ || writer_->drain(timeout);
}

void session_store::set_on_write_error(std::function<void()> fn) {
    if (writer_)
        writer_->set_on_error(std::move(fn));
}

void session_store::warn(std::string message) {
    if (warnings_.size() < max_warnings) {
        warnings_.push_back(std::move(message));
    } else {
        ++warnings_dropped_;
    }
}

// ---- loading ------------------------------------------------------------------------------

namespace {

bool is_dir(const fs::directory_entry& e) {
    std::error_code ec;
    return e.is_directory(ec) && !e.is_symlink(ec);
}

}  // namespace

bool session_store::load_file(const std::string& path, const session_key& key) {
    std::ifstream in(path, std::ios::binary);
    std::string text;
    if (in.is_open()) {
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (!in.is_open() || in.bad()) {
        warn("skipped " + path + ": cannot be read");
        return false;
    }
    std::string why;
    auto s = decode(text, key, why);
    if (!s) {
        warn("skipped " + path + ": " + why);
        return false;
    }
    auto old = sessions_.find(key);
    if (old != sessions_.end()) {
        lru_.erase(old->second.lru);
        sessions_.erase(old);
    }
    const auto it = sessions_.emplace(key, entry{std::move(*s), {}, {}}).first;
    it->second.lru = lru_.insert(lru_.end(), &it->first);
    const std::size_t stored = it->second.value.messages.size();
    trim_messages(it->second.value);
    if (it->second.value.messages.size() != stored) {
        persist(key, it->second.value);
    }
    return true;
}

std::vector<std::string> session_store::load() {
    if (state_dir_.empty()) {
        return take_warnings();
    }
    const fs::path root = fs::path(state_dir_) / "sessions";
    std::error_code ec;
    if (!fs::exists(root, ec)) {
        if (ec) {
            warn("cannot reach " + root.string() + ": " + ec.message());
        }
        return take_warnings();
    }
    const auto skip = [this](const fs::directory_entry& e, const char* why) {
        warn("skipped " + e.path().string() + ": " + why);
    };
    // A directory's entries, sorted so that the order (of warnings too) is deterministic.
    const auto entries_of = [this](const fs::path& dir) {
        std::vector<fs::directory_entry> out;
        std::error_code iter_ec;
        fs::directory_iterator it(dir, iter_ec);
        for (; !iter_ec && it != fs::directory_iterator(); it.increment(iter_ec)) {
            out.push_back(*it);
        }
        if (iter_ec) {
            warn("read " + dir.string() + ": " + iter_ec.message());
        }
        std::sort(out.begin(), out.end());
        return out;
    };
    for (const auto& project : entries_of(root)) {
        const std::string project_name = project.path().filename().string();
        if (!is_dir(project) || !protocol::valid_name(project_name)) {
            skip(project, "not a project directory");
            continue;
        }
        for (const auto& client : entries_of(project.path())) {
            const std::string client_name = client.path().filename().string();
            if (!is_dir(client) || !protocol::valid_name(client_name)) {
                skip(client, "not a client directory");
                continue;
            }
            for (const auto& file : entries_of(client.path())) {
                const std::string name = file.path().filename().string();
                if (is_tmp_name(name) && file.is_regular_file(ec)) {
                    if (fs::remove(file.path(), ec)) {
                        warn("removed stale temporary file " + file.path().string());
                    } else {
                        warn("remove " + file.path().string() + ": " + ec.message());
                    }
                    continue;
                }
                const bool json = name.size() > json_suffix.size() && name.ends_with(json_suffix);
                const std::string session_name =
                    json ? name.substr(0, name.size() - json_suffix.size()) : std::string();
                if (!json || !protocol::valid_name(session_name) || !file.is_regular_file(ec) ||
                    file.is_symlink(ec)) {
                    skip(file, "not a session file");
                    continue;
                }
                load_file(file.path().string(), {project_name, client_name, session_name});
            }
        }
    }
    // Least recently used first, as if the sessions had been used in the recorded order.
    lru_.sort([this](const session_key* a, const session_key* b) {
        return sessions_.at(*a).value.last_used < sessions_.at(*b).value.last_used;
    });
    expire(clock_());
    while (sessions_.size() > max_sessions_) {
        remove(sessions_.find(*lru_.front()));
    }
    return take_warnings();
}

}  // namespace llmb
