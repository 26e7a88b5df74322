// What the MQTT library's thread and the signal thread hand to the main thread, which does all
// the work: a thread-safe queue whose push never blocks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include <mqtt/message.h>

namespace llmb::cli {

struct inbound {
    enum class kind { message, signal, connection_lost };
    kind what = kind::message;
    mqtt::const_message_ptr msg;  // kind::message
    int signo = 0;                // kind::signal
    std::string cause;            // kind::connection_lost
};

class inbound_queue {
public:
    void push(inbound item) {
        {
            std::lock_guard lock(mutex_);
            items_.push_back(std::move(item));
        }
        ready_.notify_one();
    }

    // The oldest item, or nullopt when none comes before deadline.
    std::optional<inbound> pop_until(std::chrono::steady_clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        if (!ready_.wait_until(lock, deadline, [this] { return !items_.empty(); })) {
            return std::nullopt;
        }
        inbound item = std::move(items_.front());
        items_.pop_front();
        return item;
    }

private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<inbound> items_;
};

}  // namespace llmb::cli
