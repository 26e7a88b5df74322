// What sending a request's events needs of the broker connection: publishing in order and the
// numbers that size a packet. mqtt_link is the one the daemon uses; unit tests record instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/packet.hpp"

namespace llmb {

// MQTT 5 properties of an outbound message (ignored on a 3.1.1 connection).
struct publish_properties {
    std::string correlation;     // Correlation Data; empty: none
    std::uint32_t expiry_s = 0;  // Message Expiry Interval; 0: none
};

class publisher {
public:
    virtual ~publisher() = default;

    // Queues a message; sent in order. Returns its ticket (see last_ticket).
    virtual std::uint64_t publish(std::string topic, std::string payload, int qos, bool retain,
                                  const publish_properties* props) = 0;
    // Replaces the payload of the message with this ticket while it still waits to be handed to
    // the client library (the window of unacknowledged messages is full); topic, QoS and
    // properties stay. False, and nothing changed, once it was handed over.
    virtual bool amend(std::uint64_t ticket, std::string payload) = 0;
    // The broker's Maximum Packet Size (smallest seen), 0 when it announced none.
    virtual std::size_t broker_max_packet() const noexcept = 0;
    // The version of the connection (or of the next attempt).
    virtual protocol::mqtt_version version() const noexcept = 0;
    // Bytes the properties add to a PUBLISH on this connection (none on MQTT 3.1.1).
    virtual std::size_t properties_size(const publish_properties& props) const noexcept = 0;
    // Every queued message gets a ticket, counting up from 1: the ticket of the latest one.
    virtual std::uint64_t last_ticket() const noexcept = 0;
};

}  // namespace llmb
