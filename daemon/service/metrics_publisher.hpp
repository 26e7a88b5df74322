// Publishes the metrics message, retained at QoS 1, every metrics.interval_s on a plain timer of
// the event loop (and once right at start, so that `llm-mqtt stats` has something to show).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "daemon/config/config.hpp"
#include "daemon/mqtt/mqtt_link.hpp"
#include "daemon/service/event_loop.hpp"
#include "daemon/service/metrics.hpp"
#include "daemon/upstream/backend_pool.hpp"

namespace llmb {

class metrics_publisher {
public:
    // in_flight: how many requests the bridge runs now. version: this build's version.
    metrics_publisher(event_loop& loop, mqtt_link& mqtt, const backend_pool& backends,
                      const metrics& counters, std::function<std::size_t()> in_flight,
                      std::string version);
    ~metrics_publisher();
    metrics_publisher(const metrics_publisher&) = delete;
    metrics_publisher& operator=(const metrics_publisher&) = delete;

    // Takes the interval, topic and bridge id of c; publishes now and then every interval
    // (interval 0: stops). Called at start and on every reload.
    void configure(const config& c);
    void stop();
    // Fills further gauges of each message (what the replay store holds); nullptr: none.
    void set_gauges(std::function<void(metrics_snapshot&)> fill) { gauges_ = std::move(fill); }

    // The message as it would be published now.
    std::string snapshot() const;

private:
    void publish_and_rearm();

    event_loop& loop_;
    mqtt_link& mqtt_;
    const backend_pool& backends_;
    const metrics& counters_;
    std::function<std::size_t()> in_flight_;
    std::function<void(metrics_snapshot&)> gauges_;
    std::string version_;
    std::string topic_;
    std::string bridge_id_;
    std::chrono::seconds interval_{0};
    event_loop::clock::time_point started_;
    event_loop::clock::time_point next_;
    event_loop::timer_id timer_ = 0;
};

}  // namespace llmb
