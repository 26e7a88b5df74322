// The bookkeeping of outbound MQTT messages, without the client library: the queue of messages
// waiting to be handed to the client, the window of unacknowledged ones, the messages held until
// the broker acknowledges them (and published again after a reconnect), the tickets that say how
// far everything is settled, the backlog marks and the broker's packet limit. No I/O, no clock, no
// threads: mqtt_link feeds it what happened and asks what to do next.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include "daemon/mqtt/publisher.hpp"
#include "protocol/packet.hpp"

namespace llmb {

// Bytes the properties add to a PUBLISH of version (none on MQTT 3.1.1).
std::size_t publish_properties_size(const publish_properties& props,
                                    protocol::mqtt_version version) noexcept;

struct outbound_message {
    std::string topic;
    std::string payload;
    int qos = 1;
    bool retain = false;
    publish_properties props;
    std::uint64_t ticket = 0;  // its place in the order of enqueue() calls (see last_ticket)
};

class outbox {
public:
    // Ids of messages handed to the client: they ride on the delivery, which reports them back.
    using message_id = std::uint64_t;

    // window_limit: unacknowledged messages at most, whatever the broker allows; client_limit:
    // what the client library holds, the window when the broker announces no Receive Maximum.
    outbox(std::size_t window_limit, std::size_t client_limit) noexcept;

    // Queues m (at the front: before everything waiting, e.g. the online status) and returns its
    // ticket. A waiting message keeps its place and stays editable until it is handed over.
    std::uint64_t enqueue(outbound_message m, bool front = false);
    // Replaces the payload of the message with this ticket while it waits (bytes() follows).
    // False, and nothing changed, once it was handed over (or dropped): what the client has
    // may already be on the wire. A message published again after a reconnect was handed over
    // before, so it stays as it is too.
    bool amend(std::uint64_t ticket, std::string payload);

    // A new connection: the window is the broker's Receive Maximum (0: none announced) within
    // the limits.
    void set_receive_maximum(std::size_t receive_max) noexcept;
    std::size_t window() const noexcept { return window_; }
    // A broker's Maximum Packet Size (0: none); the smallest one seen is kept.
    void limit_packet_size(std::size_t max_packet) noexcept;
    std::size_t max_packet() const noexcept { return max_packet_; }

    // The message to hand to the client now, or null when none waits or the window is full.
    const outbound_message* next() const noexcept;
    // The id next() goes by once handed over (to give the client before it takes it).
    message_id next_id() const noexcept { return base_id_ + held_.size(); }
    // The size of next()'s packet on version when it exceeds the broker's limit (it must not be
    // sent: the broker would close the connection), else 0.
    std::size_t oversize(protocol::mqtt_version version) const noexcept;
    // The client took next(): it is held under next_id() until its delivery completes.
    void hand_over();
    // next() is dropped unsent (too large): settled.
    void drop_next();

    // The broker acknowledged the message (a QoS 0 one: it was sent): settled. Unknown ids
    // (from before a republish) are ignored.
    void acknowledged(message_id id);
    // Whether a failed delivery's reason code is the broker's refusal (a v5 PUBACK reason code
    // of 0x80 or more): final, never published again. Any other failure is the connection's.
    static bool refused(int reason_code) noexcept {
        return reason_code >= 0x80 && reason_code < 0xFF;
    }
    // A delivery failed: a refusal settles the message; otherwise it stays held, to be published
    // again after the reconnect. Returns refused(reason_code).
    bool failed(message_id id, int reason_code);

    // When the connection (and with it the client library's state) is gone: the held QoS 1
    // messages wait again, in their order and before everything newer; held QoS 0 ones are let
    // go (settled). Ids handed out before are forgotten. Returns how many wait again.
    std::size_t republish_unacknowledged();

    // Messages handed over and not settled.
    std::size_t in_flight() const noexcept { return in_flight_; }
    // Messages waiting to be handed over.
    std::size_t waiting() const noexcept { return queue_.size(); }
    bool drained() const noexcept { return queue_.empty() && in_flight_ == 0; }
    // Bytes (topics and payloads) of the messages not settled: waiting or in flight.
    std::size_t bytes() const noexcept { return bytes_; }

    // The ticket of the latest message enqueued; tickets count up from 1.
    std::uint64_t last_ticket() const noexcept { return last_ticket_; }
    // Every message with a ticket up to this one is settled (acknowledged, refused or dropped);
    // none of them will be sent (again). A scan: for periodic checks, not the hot path.
    std::uint64_t settled_through() const noexcept;

    // Backpressure marks on bytes(): backlogged once above high, until back at low or below.
    // high 0: never backlogged.
    void set_marks(std::size_t high, std::size_t low) noexcept;
    // Applies the marks to bytes() now; true when backlogged() changed.
    bool check_backlog() noexcept;
    bool backlogged() const noexcept { return backlogged_; }

private:
    struct held {
        outbound_message m;
        bool done = false;
    };
    void settle(held& h);
    void pop_settled();  // the settled entries at the front of held_
    void forget(const outbound_message& m) noexcept;

    void pop_waiting();  // queue_'s front, handed over or dropped

    std::deque<outbound_message> queue_;
    // Where each waiting message enqueued by enqueue() is: its position counted from the first
    // message ever queued (modulo 2^64; pushes at the front count down), so that its index in
    // queue_ is the position minus front_pos_.
    std::unordered_map<std::uint64_t, std::uint64_t> waiting_at_;
    std::uint64_t front_pos_ = 0;
    // Handed over, in order; the id of an entry is base_id_ + its index. Settled entries stay
    // until those before them are settled too.
    std::deque<held> held_;
    message_id base_id_ = 1;
    std::size_t in_flight_ = 0;  // held_ entries not done
    std::size_t bytes_ = 0;
    std::size_t window_limit_;
    std::size_t client_limit_;
    std::size_t window_;
    std::size_t max_packet_ = 0;
    std::uint64_t last_ticket_ = 0;
    std::size_t high_ = 0;
    std::size_t low_ = 0;
    bool backlogged_ = false;
};

}  // namespace llmb
