// The session files' writer thread (see session_writer.hpp).
#include "daemon/sessions/session_writer.hpp"

#include <utility>

#include "daemon/sessions/session_files.hpp"

namespace llmb {

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
        auto error = value ? save_session_file(state_dir_, key, *value, sync_)
                           : remove_session_file(state_dir_, key, sync_);
        lock.lock();
        busy_ = false;
        ++performed_;
        if (error) {
            const bool first = errors_.empty() && errors_dropped_ == 0;
            if (errors_.size() < max_errors) {
                errors_.push_back(std::move(*error));
            } else {
                ++errors_dropped_;
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
