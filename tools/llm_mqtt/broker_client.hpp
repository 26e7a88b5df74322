// The MQTT connection of every llm-mqtt command: a Paho async client whose callbacks only push
// into an inbound_queue (the main thread does the work), connect with a clean session, subscribe
// with the SUBACK checked, and a bounded wait for every broker answer. By default MQTT 5, and
// 3.1.1 for a broker that refuses 5 (said once on stderr).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include <mqtt/async_client.h>

#include <memory>
#include "inbound_queue.hpp"

#include "protocol/packet.hpp"
#include "protocol/version_fallback.hpp"

namespace llmb::cli {

// Longest wait for the broker to answer a connect, subscribe or publish.
inline constexpr auto broker_timeout = std::chrono::seconds(10);

// The broker cannot be reached, refuses us, or does not answer in time.
class connection_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Waits for a token of the broker and turns failure or silence into connection_error.
void await(const mqtt::token_ptr& tok, const std::string& what);

class broker_client {
public:
    // Messages, a lost connection and a disconnect by the broker go to queue.
    broker_client(const std::string& url, const std::string& client_id,
                  protocol::version_choice version, inbound_queue& queue);
    ~broker_client();  // disconnects (bounded wait)
    broker_client(const broker_client&) = delete;
    broker_client& operator=(const broker_client&) = delete;

    void connect();
    // Subscribes at QoS 1 and checks that the broker granted it.
    void subscribe(const std::string& filter);
    // Publishes at QoS 1; the caller may wait on the token or not.
    mqtt::delivery_token_ptr publish(const std::string& topic, const std::string& payload);

    const std::string& url() const noexcept { return url_; }
    // The version connected with (or to try next).
    protocol::mqtt_version version() const noexcept { return picker_.current(); }

private:
    // A Paho client for version() (Paho fixes the version when a client is created).
    void make_client();

    std::string url_;
    std::string client_id_;
    inbound_queue& queue_;
    protocol::version_picker picker_;
    std::unique_ptr<mqtt::async_client> client_;
};

}  // namespace llmb::cli
