#include "daemon/service/metrics_publisher.hpp"

#include "daemon/service/log.hpp"

namespace llmb {

metrics_publisher::metrics_publisher(event_loop& loop, mqtt_link& mqtt,
                                     const backend_pool& backends, const metrics& counters,
                                     std::function<std::size_t()> in_flight, std::string version)
    : loop_(loop),
      mqtt_(mqtt),
      backends_(backends),
      counters_(counters),
      in_flight_(std::move(in_flight)),
      version_(std::move(version)),
      started_(event_loop::clock::now()) {}

metrics_publisher::~metrics_publisher() {
    stop();
}

void metrics_publisher::stop() {
    if (timer_ != 0) {
        loop_.cancel_timer(timer_);
        timer_ = 0;
    }
}

void metrics_publisher::configure(const config& c) {
    const std::string topic = metrics_topic(c);
    const std::string id = cluster_bridge_id(c);
    const bool changed = topic != topic_ || id != bridge_id_ || c.metrics.interval != interval_;
    topic_ = topic;
    bridge_id_ = id;
    interval_ = c.metrics.interval;
    if (!changed)
        return;
    stop();
    if (interval_.count() == 0) {
        get_logger("metrics")->info("metrics messages are off (metrics.interval_s 0)");
        return;
    }
    get_logger("metrics")->info("metrics on {} every {} s (retained)", topic_, interval_.count());
    next_ = event_loop::clock::now();
    publish_and_rearm();
}

std::string metrics_publisher::snapshot() const {
    metrics_snapshot s;
    counters_.fill(s);
    s.bridge_id = bridge_id_;
    s.version = version_;
    s.time_s = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    const auto up = event_loop::clock::now() - started_;
    s.uptime_s =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(up).count());
    s.interval_s = static_cast<std::uint64_t>(interval_.count());
    s.in_flight = in_flight_ ? in_flight_() : 0;
    s.queued = backends_.queued();
    s.mqtt_messages = mqtt_.published();
    for (std::size_t b = 0; b < backends_.size(); ++b) {
        s.backends.push_back({backends_.backend(b).name, backends_.up(b), backends_.slots(b)});
    }
    if (gauges_)
        gauges_(s);
    return encode_metrics(s);
}

void metrics_publisher::publish_and_rearm() {
    mqtt_.publish(topic_, snapshot(), 1, true);
    // From the planned time, not from now: the messages do not drift.
    next_ += interval_;
    const auto now = event_loop::clock::now();
    if (next_ <= now)
        next_ = now + interval_;
    timer_ = loop_.add_timer(next_, [this] {
        timer_ = 0;
        publish_and_rearm();
    });
}

}  // namespace llmb
