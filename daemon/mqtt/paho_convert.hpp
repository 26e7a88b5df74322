// Between the link's own values and Paho's types: listeners as functions, the connect options
// from the settings, what a CONNACK says, messages in and out, and words for the broker's
// refusal codes. No state.
#pragma once

#include <mqtt/async_client.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "daemon/mqtt/mqtt_link.hpp"
#include "daemon/mqtt/outbox.hpp"

namespace llmb {

// A Paho action listener that calls functions (on the client library's thread).
class action_callbacks final : public mqtt::iaction_listener {
public:
    using callback = std::function<void(const mqtt::token&)>;
    action_callbacks(callback on_success, callback on_failure)
        : success_(std::move(on_success)), failure_(std::move(on_failure)) {}
    void on_success(const mqtt::token& tok) override { success_(tok); }
    void on_failure(const mqtt::token& tok) override { failure_(tok); }

private:
    callback success_;
    callback failure_;
};

// Connect options for settings on MQTT 5 (v5) or 3.1.1, built in place on the heap: Paho 1.2's
// connect_options must not be copied or moved (the copy's properties point into the source), and
// the object must stay alive while the client uses it.
std::unique_ptr<mqtt::connect_options> make_connect_options(const mqtt_settings& settings, bool v5,
                                                            int max_inflight);

// What the CONNACK of a successful connect says; 0: the broker announced no limit (always so on
// MQTT 3.1.1).
struct connack_values {
    std::size_t max_packet = 0;
    std::size_t receive_max = 0;
    bool session_present = false;
};
connack_values read_connack(const mqtt::token& connect_token);

inbound_message to_inbound(const mqtt::message& msg);
// m as a Paho message, with its MQTT 5 properties when v5.
mqtt::message_ptr to_paho(const outbound_message& m, bool v5);

// Paho C (as built by distributions, without HIGH_PERFORMANCE) records every entry to and exit
// from its functions, and a formatted line per packet, in an in-memory trace under one lock that
// all its threads share: about a sixth of the bridge's instructions when it relays at full
// speed. This keeps that trace to errors, unless MQTT_C_CLIENT_TRACE asks for the library's
// trace. Process-wide; call it after a client is created.
void keep_paho_trace_to_errors();

// Why the broker refused a connection: a CONNACK return code (3.1.1) or reason code (5) in words.
std::string refusal_words(int code);

}  // namespace llmb
