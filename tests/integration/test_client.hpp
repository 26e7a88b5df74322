// The tests' MQTT 5 client: subscribes and waits for SUBACK, publishes at QoS 1, and gathers
// response streams through the protocol's response_assembler, keeping every raw message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "protocol/response_assembler.hpp"

namespace mqtt {
class async_client;
class connect_options;
}  // namespace mqtt

namespace llmb::itest {

struct received {
    std::string topic;
    std::string payload;
    int qos = 0;
    bool retained = false;
    // MQTT 5 properties of the message; nullopt when it carried none (always with 3.1.1).
    std::optional<std::string> correlation_data;
    std::optional<std::string> response_topic;
    std::optional<std::uint32_t> message_expiry;  // the remaining Message Expiry Interval (s)
};

// MQTT 5 request/response properties of a message the test publishes.
struct publish_props {
    std::optional<std::string> response_topic;
    std::optional<std::string> correlation_data;  // binary: any bytes, 0x00 included
};

// True when topic matches the MQTT filter (with + and # wildcards).
bool topic_matches(std::string_view filter, std::string_view topic);

// The messages of one request: response topic events and raw text topic payloads.
struct response_stream {
    std::string filter;      // what collect() was asked for
    std::string topic;       // the response topic the stream came on (empty: nothing arrived)
    std::string id;          // its last level: the request id
    std::string text_topic;  // {prefix}/text/{client}/{id}
    std::vector<nlohmann::json> events;     // complete events in seq order (frags joined)
    std::vector<received> messages;         // raw response topic messages in arrival order
    std::vector<received> text_messages;    // raw text topic messages in arrival order
    std::vector<std::string> other_topics;  // further topics that matched the filter
    protocol::response_assembler assembler;
    std::size_t scanned = 0;  // inbox position up to which messages were looked at

    bool finished() const noexcept { return assembler.finished(); }
    const std::string& text() const noexcept { return assembler.text(); }
    const std::string& reasoning() const noexcept { return assembler.reasoning(); }
    std::string raw_text() const;                    // text topic payloads joined
    std::size_t count(std::string_view type) const;  // complete events of this type
    std::size_t terminals() const;                   // done, error and session events
    const nlohmann::json* first(std::string_view type) const;
    const nlohmann::json& last() const;  // throws when there is no event
    // One line describing what arrived, for failure messages.
    std::string summary() const;
};

// How a test client connects; the defaults give a clean MQTT 5 session with a unique id.
struct client_options {
    bool v5 = true;
    std::string client_id;               // empty: a unique one
    std::uint32_t session_expiry_s = 0;  // >0: a persistent session (clean start false)
    bool auto_reconnect = false;         // reconnect by itself when the broker goes away
    // With auto_reconnect: subscribe every filter again on each reconnect, as a device does for
    // a broker that lost its session (one without persistence).
    bool resubscribe = false;
    std::string username{};  // empty: none (an anonymous client)
    std::string password{};

    // True for these defaults: MQTT 5, a clean session, anonymous, a generated id.
    bool plain() const noexcept {
        return v5 && client_id.empty() && session_expiry_s == 0 && !auto_reconnect &&
               !resubscribe && username.empty() && password.empty();
    }
};

// Clients connected ahead of use. Paho C 1.3.12 holds back the CONNECT of a client that starts
// while another client of the same process is connected by one to two seconds (its receive
// thread first waits out a 1 s poll of the sockets it already had); clients that start together
// while none is connected all connect at once. So a bridge's status client connects together
// with a few spare ones, and a plain test_client takes a spare of its broker
// when there is one: the same connection it would have made, made earlier.
//
// Starts connecting n plain clients (client_options::plain) to broker_url, without waiting.
void connect_spare_clients(const std::string& broker_url, std::size_t n);
// Disconnects the spares of broker_url that no test_client took (before the broker stops, and
// when the bridge that connected them goes).
void drop_spare_clients(const std::string& broker_url);

class test_client {
public:
    // Connects with MQTT 5 (or 3.1.1 when v5 is false) and a unique client id.
    explicit test_client(const std::string& broker_url, std::string prefix = "llm", bool v5 = true);
    test_client(const std::string& broker_url, std::string prefix, client_options opts);
    ~test_client();
    test_client(const test_client&) = delete;
    test_client& operator=(const test_client&) = delete;

    const std::string& client_id() const noexcept { return client_id_; }
    const std::string& prefix() const noexcept { return prefix_; }
    bool connected() const;

    void subscribe(const std::string& filter, int qos = 1);
    // Subscribes {prefix}/response/{client}/# and {prefix}/text/{client}/#.
    void subscribe_client(std::string_view client);
    void publish(const std::string& topic, std::string_view payload, int qos = 1,
                 bool retain = false);
    void publish_raw_request(std::string_view client, std::string_view payload);
    void publish_request(std::string_view client, const nlohmann::json& request);
    void publish_cancel(std::string_view client, std::string_view payload);
    // Publishes at QoS 1 with Response Topic and/or Correlation Data (an MQTT 5 client only).
    void publish_with(const std::string& topic, std::string_view payload,
                      const publish_props& props);
    void publish_request_with(std::string_view client, const nlohmann::json& request,
                              const publish_props& props);

    // Gathers the response stream whose topic matches filter_or_topic until its terminal event
    // or the timeout. Text topic messages that arrived so far are included.
    response_stream collect(const std::string& filter_or_topic, ms timeout);
    response_stream collect(std::string_view client, std::string_view id, ms timeout);
    // Gathers the stream of request `id` of `client` that was asked to go elsewhere (an MQTT 5
    // Response Topic): its events come on topic, its raw text on {prefix}/text/{client}/{id}.
    response_stream collect_at(const std::string& topic, std::string_view client,
                               std::string_view id, ms timeout);
    // Takes into s every message that arrived since (after a later barrier, extra events show
    // up as assembler violations or in s.events).
    void refresh(response_stream& s);
    // Waits until the text topic of s carries at least `bytes` bytes.
    bool await_text(response_stream& s, std::size_t bytes, ms timeout);

    // Waits for a message on a topic matching filter whose payload satisfies pred (checked
    // against the inbox from position `from`).
    std::optional<received> wait_for(const std::string& filter,
                                     const std::function<bool(const received&)>& pred, ms timeout,
                                     std::size_t from = 0);
    // Waits for the first chunk event on {prefix}/response/{client}/{id}.
    bool wait_first_chunk(std::string_view client, std::string_view id, ms timeout);

    const std::vector<received>& inbox() const noexcept { return inbox_; }
    // Receives one message into the inbox; false when none came before the deadline.
    bool pump(clock_type::time_point deadline);
    // Moves every message already received by the client library into the inbox.
    void drain();

private:
    // Refreshes s until its terminal event or the timeout.
    void gather(response_stream& s, ms timeout);
    // Takes a connected spare of broker_url, if there is one.
    bool take_spare(const std::string& broker_url);

    std::string prefix_;
    std::string client_id_;
    bool v5_;
    bool auto_reconnect_;
    std::unique_ptr<mqtt::async_client> cli_;
    std::unique_ptr<mqtt::connect_options> conn_opts_;  // kept alive for reconnects (Paho 1.2)
    std::mutex filters_mutex_;  // filters_ is read on the client library's thread
    std::vector<std::pair<std::string, int>> filters_;  // subscribed so far, for resubscribe
    std::vector<received> inbox_;
};

}  // namespace llmb::itest
