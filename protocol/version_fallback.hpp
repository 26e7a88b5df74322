// Which MQTT protocol version to offer a broker, and when to fall back from 5 to 3.1.1: the
// decision alone, fed with the outcome of each connect attempt (the bridge and the CLI share it).
#pragma once

#include <string_view>

#include "protocol/packet.hpp"

namespace llmb::protocol {

// What the user asked for: auto (MQTT 5, falling back to 3.1.1 for a broker that refuses 5),
// or exactly one version (kept even when the broker refuses it).
enum class version_choice { automatic, v5, v3_1_1 };

// How a connect attempt failed, as far as the protocol version goes.
enum class connect_failure {
    version_refused,        // CONNACK: unacceptable protocol version (3.1.1: 1, MQTT 5: 0x84)
    closed_before_connack,  // the TCP connection was made, then closed before any CONNACK
    other,                  // no TCP connection, a timeout, TLS, any other CONNACK code
};

// A failed connect of the Paho C library (1.3) as a connect_failure: rc > 0 is the CONNACK
// code; rc -1 with "TCP connect completion failure" is a close after the CONNECT was sent
// (a refused TCP connect says "TCP/TLS connect failure", a silent broker "TCP connect timeout").
connect_failure classify_connect_failure(int rc, std::string_view message) noexcept;

// The version to offer next. With automatic: MQTT 5 until the broker refuses it, by a CONNACK
// saying so (once) or by closing the connection before any CONNACK twice in a row (once could
// be a broker going down); then 3.1.1. Once 3.1.1 connects, or after the explicit refusal, it
// stays 3.1.1 for the picker's lifetime; once MQTT 5 connects, it stays 5. A fallback on closes
// whose first 3.1.1 attempt fails as well goes back to 5: the closes were not about the version.
class version_picker {
public:
    enum class step {
        retry,      // try again with the same version
        fall_back,  // now 3.1.1 (try again at once)
        go_back,    // 3.1.1 failed too: MQTT 5 again
    };

    explicit version_picker(version_choice choice) noexcept;

    mqtt_version current() const noexcept { return current_; }
    version_choice choice() const noexcept { return choice_; }
    // True once MQTT 3.1.1 is used because the broker refused 5.
    bool fell_back() const noexcept { return fell_back_; }

    step on_failure(connect_failure f) noexcept;
    void on_connected() noexcept;

private:
    version_choice choice_;
    mqtt_version current_;
    bool fell_back_ = false;
    bool settled_ = false;  // the version holds for good
    int closes_ = 0;        // MQTT 5 attempts closed before a CONNACK in a row
};

}  // namespace llmb::protocol
