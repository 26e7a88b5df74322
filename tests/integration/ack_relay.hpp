// A relay between an MQTT client and a real broker that can hold back what the broker sends,
// acknowledgements included, while it counts the client's QoS 1 publishes and the broker's
// PUBACKs that reached the client. With the broker's side held, the client's unacknowledged
// publishes pile up to the limit of its window and no further: the relay shows that limit. It
// can also reset the connection, as a broker that dies mid-stream does, and relays the client's
// next connection then.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace llmb::itest {

class ack_relay {
public:
    // Listens on a free 127.0.0.1 port and relays its connections, one at a time, each to a
    // connection of its own to 127.0.0.1:upstream.
    explicit ack_relay(std::uint16_t upstream_port);
    ~ack_relay();  // stops, closes both connections, joins its thread
    ack_relay(const ack_relay&) = delete;
    ack_relay& operator=(const ack_relay&) = delete;

    std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

    // Holds what the broker sends (kept in order) until release(), which sends it all on.
    void hold();
    void release();
    // Ends the connection being relayed: a TCP reset to the client (with what it sent still
    // unread), a close to the broker. The client's next connection is relayed again.
    void reset();
    // The client's connections accepted so far.
    std::size_t connections() const noexcept { return connections_.load(); }

    // The client's QoS 1 (and 2) PUBLISH packets so far, and the broker's PUBACKs passed on.
    std::size_t publishes() const noexcept { return publishes_.load(); }
    std::size_t acks_passed() const noexcept { return acks_passed_.load(); }
    // Publishes the client sent that it has no acknowledgement for: what it has in flight.
    std::size_t unacknowledged() const noexcept { return publishes() - acks_passed(); }
    // The most unacknowledged() ever was.
    std::size_t most_unacknowledged() const noexcept { return most_.load(); }

private:
    void run();
    // Relays one accepted connection until it ends; false once the relay is to stop.
    bool relay(int client);
    // Counts the whole packets at the front of buf (from the client, or from the broker as it
    // is passed on) and returns the bytes they take.
    std::size_t count_packets(const std::string& buf, bool from_client);

    std::uint16_t upstream_port_;
    std::uint16_t port_ = 0;
    int listen_fd_ = -1;
    int stop_fd_ = -1;  // an eventfd: readable once the destructor runs
    int hold_fd_ = -1;  // an eventfd: written when hold(), release() or reset() is called
    std::atomic<bool> held_{false};
    std::atomic<bool> reset_{false};
    std::atomic<std::size_t> connections_{0};
    std::atomic<std::size_t> publishes_{0};
    std::atomic<std::size_t> acks_passed_{0};
    std::atomic<std::size_t> most_{0};
    std::thread thread_;
};

}  // namespace llmb::itest
