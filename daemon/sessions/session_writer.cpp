// The session files' writer thread and the file operations it performs (see session_writer.hpp).
#include "daemon/sessions/session_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <utility>

#include <nlohmann/json.hpp>

namespace llmb {

namespace fs = std::filesystem;

namespace {

constexpr int file_version = 1;

std::string errno_text(int err) {
    return std::strerror(err);
}

std::int64_t to_ms(session_store::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string encode(const session_key& key, const session& s) {
    nlohmann::json messages = nlohmann::json::array();
    for (const auto& m : s.messages) {
        messages.push_back({{"role", m.role}, {"content", m.content}, {"tokens", m.tokens}});
    }
    nlohmann::json doc = {
        {"version", file_version},
        {"project", key.project},
        {"client", key.client},
        {"session", key.session},
        {"system", s.system ? nlohmann::json(*s.system) : nlohmann::json(nullptr)},
        {"created_ms", to_ms(s.created)},
        {"last_used_ms", to_ms(s.last_used)},
        {"messages", std::move(messages)},
    };
    // Invalid UTF-8 in stored text is replaced rather than failing the write.
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

bool fsync_dir(const fs::path& dir, std::string& why) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        why = "open " + dir.string() + ": " + errno_text(errno);
        return false;
    }
    const bool ok = ::fsync(fd) == 0;
    if (!ok) {
        why = "fsync " + dir.string() + ": " + errno_text(errno);
    }
    ::close(fd);
    return ok;
}

// Writes data to dir/name through dir/name.tmp.<pid>: the file named `name` is either the old
// or the new content, never a partial one.
bool write_atomically(const fs::path& dir, const std::string& name, std::string_view data,
                      bool sync, std::string& why) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        why = "create " + dir.string() + ": " + ec.message();
        return false;
    }
    const fs::path final_path = dir / name;
    const fs::path tmp_path = dir / (name + ".tmp." + std::to_string(::getpid()));
    const int fd =
        ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        why = "open " + tmp_path.string() + ": " + errno_text(errno);
        return false;
    }
    const auto fail = [&](const char* what, int err) {
        why = std::string(what) + " " + tmp_path.string() + ": " + errno_text(err);
        ::unlink(tmp_path.c_str());
        return false;
    };
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return fail("write", err);
        }
        done += static_cast<std::size_t>(n);
    }
    if (sync && ::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        return fail("fsync", err);
    }
    if (::close(fd) != 0) {
        return fail("close", errno);
    }
    if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
        return fail("rename", errno);
    }
    return !sync || fsync_dir(dir, why);
}

}  // namespace

std::vector<std::string> session_writer::apply(const std::string& state_dir, bool sync,
                                               const session_key& key, const session* value) {
    std::vector<std::string> errors;
    const fs::path dir = fs::path(state_dir) / "sessions" / key.project / key.client;
    const std::string name = key.session + ".json";
    std::string why;
    if (value != nullptr) {
        if (!write_atomically(dir, name, encode(key, *value), sync, why)) {
            errors.push_back("session " + key.project + "/" + key.client + "/" + key.session +
                             " not saved: " + why);
        }
        return errors;
    }
    const fs::path file = dir / name;
    std::error_code ec;
    if (!fs::remove(file, ec)) {
        if (ec && ec != std::errc::no_such_file_or_directory) {
            errors.push_back("remove " + file.string() + ": " + ec.message());
        }
        return errors;
    }
    if (sync && !fsync_dir(dir, why)) {
        errors.push_back(why);
    }
    // Empty directories of clients and projects that have no sessions left; fails (harmlessly)
    // while they hold files.
    if (fs::remove(dir, ec)) {
        fs::remove(dir.parent_path(), ec);
    }
    return errors;
}

session_writer::session_writer(std::string state_dir, bool sync)
    : state_dir_(std::move(state_dir)), sync_(sync), thread_([this] { run(); }) {}

session_writer::~session_writer() {
    drain(drain_timeout);
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_.notify_one();
    thread_.join();
}

void session_writer::set_on_error(std::function<void()> fn) {
    std::lock_guard lock(mutex_);
    on_error_ = std::move(fn);
}

void session_writer::write(const session_key& key, session value) {
    enqueue(key, std::move(value));
}

void session_writer::remove(const session_key& key) {
    enqueue(key, std::nullopt);
}

void session_writer::enqueue(const session_key& key, std::optional<session> value) {
    {
        std::lock_guard lock(mutex_);
        const auto [it, inserted] = pending_.insert_or_assign(key, std::move(value));
        if (inserted) {
            order_.push_back(it->first);
        }
    }
    work_.notify_one();
}

bool session_writer::drain(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [this] { return pending_.empty() && !busy_; });
}

std::size_t session_writer::performed() {
    std::lock_guard lock(mutex_);
    return performed_;
}

std::vector<std::string> session_writer::take_errors() {
    std::lock_guard lock(mutex_);
    if (errors_dropped_ > 0) {
        errors_.push_back(std::to_string(errors_dropped_) + " more session file errors not kept");
        errors_dropped_ = 0;
    }
    return std::exchange(errors_, {});
}

void session_writer::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        work_.wait(lock, [this] { return stopping_ || !order_.empty(); });
        if (stopping_) {
            // What drain could not write in time is lost; say how much.
            if (!pending_.empty()) {
                errors_.push_back(std::to_string(pending_.size()) +
                                  " session change(s) not saved: the disk did not keep up");
            }
            pending_.clear();
            order_.clear();
            idle_.notify_all();
            return;
        }
        const session_key key = std::move(order_.front());
        order_.pop_front();
        auto node = pending_.extract(key);
        std::optional<session> value = std::move(node.mapped());
        busy_ = true;
        lock.unlock();
        auto errors = apply(state_dir_, sync_, key, value ? &*value : nullptr);
        lock.lock();
        busy_ = false;
        ++performed_;
        if (!errors.empty()) {
            const bool first = errors_.empty() && errors_dropped_ == 0;
            for (auto& e : errors) {
                if (errors_.size() < max_errors) {
                    errors_.push_back(std::move(e));
                } else {
                    ++errors_dropped_;
                }
            }
            if (first && on_error_) {
                const auto notify = on_error_;
                lock.unlock();
                notify();
                lock.lock();
            }
        }
        if (pending_.empty()) {
            idle_.notify_all();
        }
    }
}

}  // namespace llmb
