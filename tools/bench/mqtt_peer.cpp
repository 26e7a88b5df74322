#include "mqtt_peer.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include <mqtt/async_client.h>

#include "measure.hpp"

namespace llmb::bench {

double arrivals::chunks_per_s() const {
    const auto span = last_chunk_ns - first_chunk_ns;
    return span > 0 ? static_cast<double>(chunks) * 1e9 / static_cast<double>(span) : 0.0;
}

double arrivals::stamps_per_s() const {
    const auto span = last_chunk_ns - first_chunk_ns;
    return span > 0 ? static_cast<double>(stamps) * 1e9 / static_cast<double>(span) : 0.0;
}

class mqtt_peer::delivery : public mqtt::iaction_listener {
public:
    explicit delivery(mqtt_peer& p) : peer_(p) {}
    void on_success(const mqtt::token&) override { peer_.on_delivered(); }
    void on_failure(const mqtt::token&) override { peer_.on_delivered(); }

private:
    mqtt_peer& peer_;
};

mqtt_peer::mqtt_peer(const std::string& broker_url, const std::string& client_id)
    : cli_(std::make_unique<mqtt::async_client>(
          broker_url, client_id, mqtt::create_options(MQTTVERSION_5, 65536), nullptr)),
      delivery_(std::make_unique<delivery>(*this)) {
    cli_->set_message_callback(
        [this](mqtt::const_message_ptr m) { on_message(m->get_topic(), m->get_payload()); });
    mqtt::connect_options co;
    co.set_mqtt_version(MQTTVERSION_5);
    co.set_clean_start(true);
    co.set_keep_alive_interval(60);
    co.set_max_inflight(static_cast<int>(window_));
    try {
        auto tok = cli_->connect(co);
        tok->wait();
        // The broker's Receive Maximum caps the window, as in the bridge.
        const auto response = tok->get_connect_response();
        const auto& props = response.get_properties();
        if (props.contains(mqtt::property::RECEIVE_MAXIMUM)) {
            const auto rm = mqtt::get<std::uint16_t>(props, mqtt::property::RECEIVE_MAXIMUM);
            if (rm != 0) {
                window_ = std::min<std::size_t>(window_, rm);
            }
        }
    } catch (const mqtt::exception& e) {
        throw std::runtime_error("cannot connect to " + broker_url + ": " + e.what());
    }
}

mqtt_peer::~mqtt_peer() {
    try {
        cli_->disconnect()->wait_for(std::chrono::seconds(5));
    } catch (const mqtt::exception&) {
        // Going away anyway.
    }
}

void mqtt_peer::subscribe(const std::vector<std::string>& filters, std::size_t first,
                          std::size_t count) {
    {
        std::lock_guard lock(mu_);
        counts_ = arrivals{};
        first_ = first;
        state_.assign(count, 0);
        started_ns_.assign(count, 0);
        latencies_.clear();
    }
    for (const auto& f : filters) {
        cli_->subscribe(f, 1)->wait();
    }
    filters_ = filters;
}

void mqtt_peer::unsubscribe_all() {
    for (const auto& f : filters_) {
        cli_->unsubscribe(f)->wait();
    }
    filters_.clear();
}

void mqtt_peer::publish(const std::string& topic, std::string payload, int qos, bool retain) {
    {
        std::unique_lock lock(mu_);
        if (in_flight_ >= window_) {
            // A full window waits until half of it is acknowledged: one wake-up per half
            // window rather than one per acknowledgement.
            refill_ = true;
            changed_.wait(lock, [&] { return in_flight_ <= window_ / 2; });
        }
        ++in_flight_;
    }
    auto msg = mqtt::message::create(topic, std::move(payload), qos, retain);
    cli_->publish(msg, nullptr, *delivery_);
}

bool mqtt_peer::flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return in_flight_ == 0; });
}

void mqtt_peer::on_delivered() {
    std::lock_guard lock(mu_);
    --in_flight_;
    if ((refill_ && in_flight_ <= window_ / 2) || in_flight_ == 0) {
        refill_ = false;
        changed_.notify_all();
    }
}

bool mqtt_peer::wait_terminals(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return counts_.terminals >= n; });
}

bool mqtt_peer::wait_started(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return counts_.started >= n; });
}

arrivals mqtt_peer::counts() const {
    std::lock_guard lock(mu_);
    return counts_;
}

std::int64_t mqtt_peer::first_chunk_ns(std::size_t k) const {
    std::lock_guard lock(mu_);
    return k >= first_ && k - first_ < started_ns_.size() ? started_ns_[k - first_] : 0;
}

std::vector<std::int64_t> mqtt_peer::take_latencies() {
    std::lock_guard lock(mu_);
    return std::move(latencies_);
}

void mqtt_peer::on_message(std::string_view topic, std::string_view payload) {
    const std::int64_t now = realtime_ns();
    // The raw text mirror carries no event: its topic names the request.
    const bool text = topic.find("/text/") != std::string_view::npos;
    const std::string_view type = text ? std::string_view() : event_type(payload);
    const auto k = text ? topic_request_index(topic) : request_index(payload);
    std::lock_guard lock(mu_);
    std::uint8_t* state =
        k && *k >= first_ && *k - first_ < state_.size() ? &state_[*k - first_] : nullptr;
    if (state == nullptr) {
        return;  // not a request of this measurement (a late message of an earlier one)
    }
    ++counts_.messages;
    if (text) {
        ++counts_.texts;
    } else if (type == "chunk") {
        ++counts_.chunks;
        counts_.bytes += payload.size();
        if (counts_.first_chunk_ns == 0) {
            counts_.first_chunk_ns = now;
        }
        counts_.last_chunk_ns = now;
        counts_.stamps +=
            for_each_stamp(payload, [&](std::int64_t at) { latencies_.push_back(now - at); });
        if (*state == 0) {
            *state = 1;
            started_ns_[*k - first_] = now;
            ++counts_.started;
            ++counts_.streaming;
            changed_.notify_all();
        }
    } else if (type == "done" || type == "error") {
        ++counts_.terminals;
        if (type == "error") {
            if (counts_.errors++ == 0) {
                counts_.first_error = std::string(payload);
            }
        }
        if (*state == 1) {
            --counts_.streaming;
        }
        *state = 2;
        changed_.notify_all();
    }
}

std::string response_topic(const std::string& prefix, std::size_t k) {
    return prefix + "/response/c" + std::to_string(k % 100) + "/r" + std::to_string(k);
}

std::string request_topic(const std::string& prefix, std::size_t k) {
    return prefix + "/request/c" + std::to_string(k % 100);
}

void flood(mqtt_peer& pub, const std::string& prefix, std::size_t first, std::size_t topics,
           std::size_t per_topic, double rate_per_s, int qos) {
    std::vector<std::string> names;
    std::vector<std::string> ids;
    for (std::size_t k = first; k < first + topics; ++k) {
        names.push_back(response_topic(prefix, k));
        ids.push_back("{\"id\":\"r" + std::to_string(k) + "\",\"seq\":");
    }
    const auto start = std::chrono::steady_clock::now();
    std::size_t sent = 0;
    for (std::size_t seq = 1; seq <= per_topic; ++seq) {
        for (std::size_t k = 0; k < topics; ++k) {
            if (rate_per_s > 0) {
                // Pacing: message i goes out at start + i / rate.
                std::this_thread::sleep_until(start +
                                              std::chrono::nanoseconds(static_cast<std::int64_t>(
                                                  static_cast<double>(sent) * 1e9 / rate_per_s)));
            }
            // The shape and size of a bridge chunk carrying one stamped word.
            pub.publish(names[k],
                        ids[k] + std::to_string(seq) + ",\"type\":\"chunk\",\"text\":\"@" +
                            std::to_string(realtime_ns()) + "; word\"}",
                        qos);
            ++sent;
        }
    }
    for (std::size_t k = 0; k < topics; ++k) {
        pub.publish(names[k], ids[k] + std::to_string(per_topic + 1) +
                                  ",\"type\":\"done\",\"finish_reason\":\"stop\"}");
    }
}

}  // namespace llmb::bench
