// The MQTT side of the daemon: one Paho async client whose callbacks only hand work to the
// event loop. Connects and reconnects by itself (with back-off), resubscribes on every connect,
// keeps the broker's Maximum Packet Size, and publishes from a queue with a bounded window of
// unacknowledged messages so that publishing never blocks the loop.
#pragma once

#include <mqtt/async_client.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/config/tls_config.hpp"
#include "daemon/mqtt/outbox.hpp"
#include "daemon/mqtt/publisher.hpp"
#include "daemon/mqtt/tls_diagnosis.hpp"
#include "daemon/service/event_loop.hpp"
#include "protocol/packet.hpp"
#include "protocol/version_fallback.hpp"

namespace llmb {

struct mqtt_settings {
    std::string uri = "tcp://127.0.0.1:1883";
    std::string client_id;
    // auto: MQTT 5, and 3.1.1 for a broker that refuses 5 (kept while the process runs).
    protocol::version_choice version = protocol::version_choice::automatic;
    int keep_alive_s = 30;
    // 0: clean start. >0: a persistent session (see mqtt_config::session_expiry_s): the broker
    // keeps our subscriptions and what it queued for us while we were away. Either way the link
    // keeps every QoS 1 message until the broker acknowledges it, and publishes it again itself
    // after a reconnect (each connection has a new client: see make_client).
    std::uint32_t session_expiry_s = 0;
    std::string username;
    std::string password;  // never logged
    tls_config tls;        // used when uri is ssl://
    std::string status_topic;
    std::string online_payload;
    std::string offline_payload;
    std::vector<std::string> filters;  // subscribed at QoS 1 on every connect
    // Also subscribed on every connect, with No Local on MQTT 5: the bridge's own messages are
    // not sent back (on 3.1.1 they are, and the handler must tell them apart).
    std::vector<std::string> watch_filters;
    // Unacknowledged publishes at most (mqtt_config::max_inflight); also never more than the
    // broker's Receive Maximum: Paho holds back what exceeds it and sends it late, so the window
    // stays within it.
    std::size_t window = 100;
};

struct inbound_message {
    std::string topic;
    std::string payload;
    // MQTT 5 request/response properties; empty when absent.
    std::string response_topic;
    std::string correlation;
};

class mqtt_link final : public publisher {
public:
    using message_handler = std::function<void(inbound_message&&)>;
    using state_handler = std::function<void()>;

    // tls_check finds out why a TLS connect failed, to log what is wrong (null: no check).
    // The link takes the loop's wake handler (see event_loop::set_wake_handler) while it lives.
    mqtt_link(event_loop& loop, tls_diagnosis* tls_check, mqtt_settings settings,
              message_handler on_message, state_handler on_ready, state_handler on_down);
    ~mqtt_link();
    mqtt_link(const mqtt_link&) = delete;
    mqtt_link& operator=(const mqtt_link&) = delete;

    void start();
    // Subscribes filters that are new and unsubscribes those gone (and uses the new list on
    // every later connect).
    void set_filters(std::vector<std::string> filters);
    // Queues a message; sent in order as soon as the link is up and the window allows.
    std::uint64_t publish(std::string topic, std::string payload, int qos, bool retain = false,
                          const publish_properties* props = nullptr) override;
    // Replaces a waiting message's payload (see publisher::amend).
    bool amend(std::uint64_t ticket, std::string payload) override;
    // Publishes the offline status, waits (bounded) for the queue to drain, disconnects.
    void shutdown(std::chrono::milliseconds drain_limit, std::function<void()> done);

    bool ready() const noexcept { return ready_; }
    // The broker's Maximum Packet Size (smallest seen), 0 when it announced none.
    std::size_t broker_max_packet() const noexcept override { return outbox_.max_packet(); }
    // The version of the connection (or of the next attempt): may change from 5 to 3.1.1 once.
    protocol::mqtt_version version() const noexcept override { return picker_.current(); }
    // Bytes the properties add to a PUBLISH on this connection (none on MQTT 3.1.1).
    std::size_t properties_size(const publish_properties& props) const noexcept override;
    // Backpressure: on_change(true) once the bytes (topics and payloads) of the messages the
    // broker has not acknowledged yet, queued or handed to the client library, exceed high;
    // on_change(false) once they are back at low or below. It may be called from inside
    // publish() and amend().
    void set_backlog_handler(std::size_t high, std::size_t low,
                             std::function<void(bool)> on_change);
    bool backlogged() const noexcept { return outbox_.backlogged(); }
    std::uint64_t published() const noexcept { return published_; }
    // Every queued message gets a ticket, counting up from 1: the ticket of the latest one.
    std::uint64_t last_ticket() const noexcept override { return outbox_.last_ticket(); }
    // Every message with a ticket up to this one is settled: acknowledged by the broker, failed
    // or dropped; none of them will be sent (again). A scan of what is held and queued: for
    // periodic checks, not the hot path.
    std::uint64_t settled_through() const noexcept { return outbox_.settled_through(); }

private:
    // How a delivery ended, as the client library's thread hands it to the loop. The id (the
    // outbox's) rides on the delivery as the token's user context.
    struct delivery_report {
        std::uint64_t id;
        bool ok;
        int rc;
        int reason;
    };

    // A new Paho client and connect options for version(), with the handlers set; the old
    // client's unacknowledged messages are queued again.
    void make_client();
    void connect_now();
    void on_connect_failed(int rc, int reason);
    // Whether to go on with another version after a failed connect; true when it retried.
    bool pick_version(protocol::connect_failure failure, const std::string& why);
    void on_tls_checked(const std::string& why);
    void schedule_reconnect();
    void on_delivery(const mqtt::token& tok, bool ok);
    void on_connected(bool session_present);
    void on_subscribed();
    void on_lost(const std::string& cause);
    void on_deliveries();
    void take_completions();
    // Whether each acknowledgement wakes the loop, and the sweep that takes them otherwise.
    void choose_wakes();
    void republish_unacknowledged();
    void pump();
    bool persistent() const noexcept { return settings_.session_expiry_s != 0; }
    bool uses_tls() const noexcept { return settings_.uri.rfind("ssl://", 0) == 0; }
    void check_backlog();
    void maybe_finish_shutdown();
    void finish_shutdown();

    event_loop& loop_;
    tls_diagnosis* tls_check_;
    mqtt_settings settings_;
    message_handler on_message_;
    state_handler on_ready_;
    state_handler on_down_;
    protocol::version_picker picker_;
    std::unique_ptr<mqtt::async_client> client_;
    std::uint64_t client_generation_ = 0;  // counts the clients made: whose report is current
    // Built in place and kept alive (see Paho 1.2 notes); new with each client.
    std::unique_ptr<mqtt::connect_options> conn_opts_;
    mqtt::token_ptr connect_token_;  // of the attempt under way (its failure text)
    std::unique_ptr<mqtt::iaction_listener> delivery_listener_;
    std::unique_ptr<mqtt::iaction_listener> connect_listener_;
    std::unique_ptr<mqtt::iaction_listener> subscribe_listener_;
    // Completed deliveries, filled by the client library's thread and swapped out by the
    // loop: one short lock per acknowledgement, nothing allocated once the vectors grew.
    std::mutex completions_mutex_;
    std::vector<delivery_report> completions_;
    std::vector<delivery_report> completions_taken_;  // the loop's side of the swap
    bool wake_on_delivery_ = true;                    // under completions_mutex_
    bool wake_on_delivery_local_ = true;              // the loop's copy
    event_loop::timer_id sweep_timer_ = 0;
    outbox outbox_;
    std::function<void(bool)> on_backlog_;
    std::uint64_t published_ = 0;
    bool connecting_ = false;
    bool ready_ = false;
    bool stopping_ = false;
    bool shutdown_done_ = false;
    std::chrono::milliseconds backoff_{100};
    event_loop::timer_id reconnect_timer_ = 0;
    event_loop::timer_id shutdown_timer_ = 0;
    std::function<void()> shutdown_cb_;
};

}  // namespace llmb
