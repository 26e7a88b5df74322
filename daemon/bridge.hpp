// The bridge: takes requests and cancels from MQTT, owns every request in flight, and shuts
// down gracefully. Everything here runs on the event loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>

#include "daemon/event_loop.hpp"
#include "daemon/http_client.hpp"
#include "daemon/mqtt_link.hpp"
#include "daemon/options.hpp"
#include "daemon/request_stream.hpp"

namespace llmb {

class bridge {
public:
    bridge(event_loop& loop, const bridge_options& options);
    ~bridge();
    bridge(const bridge&) = delete;
    bridge& operator=(const bridge&) = delete;

    void start();
    // Stops taking requests, lets those in flight finish within the grace period, ends the
    // rest with shutting_down, publishes offline, disconnects, then calls done.
    void shutdown(std::function<void()> done);
    bool stopping() const noexcept { return stopping_; }
    std::size_t in_flight() const noexcept { return active_.size(); }

private:
    void on_message(inbound_message&& msg);
    void on_request(const std::string& client, std::string_view payload);
    void on_cancel(const std::string& client, std::string_view payload);
    void reply_error(const std::string& client, const std::string& id,
                     const protocol::error& err, std::size_t request_limit);
    void on_finished(request_stream& stream);
    void finish_shutdown();
    std::string generate_id();
    std::string status_payload(bool online) const;
    static std::string key(std::string_view client, std::string_view id);

    event_loop& loop_;
    const bridge_options& opts_;
    http_client http_;
    mqtt_link mqtt_;
    stream_services services_;
    std::unordered_map<std::string, std::unique_ptr<request_stream>> active_;
    std::mt19937_64 rng_;
    std::uint64_t served_ = 0;
    bool stopping_ = false;
    bool shutdown_started_ = false;
    event_loop::timer_id grace_timer_ = 0;
    std::function<void()> on_stopped_;
};

}  // namespace llmb
