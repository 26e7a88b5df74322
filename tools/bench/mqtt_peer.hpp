// The benchmark's MQTT 5 client: publishes at QoS 1 with a window of unacknowledged messages,
// as the bridge does, and counts what arrives on its subscription without keeping the messages:
// chunks, the stamps in them (each a latency sample), terminals, and which requests are
// streaming.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mqtt {
class async_client;
}  // namespace mqtt

namespace llmb::bench {

struct arrivals {
    std::size_t messages = 0;
    std::size_t chunks = 0;     // chunk events (also the ceiling's chunk-shaped messages)
    std::size_t stamps = 0;     // stamps in them: deltas relayed
    std::size_t bytes = 0;      // payload bytes of the chunk messages
    std::size_t texts = 0;      // raw text messages ({prefix}/text/...) of the requests
    std::size_t terminals = 0;  // done and error events
    std::size_t errors = 0;
    std::size_t streaming = 0;  // requests that got a chunk and no terminal yet
    std::size_t started = 0;    // requests that got at least one chunk
    // Every message of the requests: the bridge's PUBLISHes when it relayed them.
    std::int64_t first_chunk_ns = 0;
    std::int64_t last_chunk_ns = 0;
    std::string first_error;  // the payload of the first error event

    // Chunks (stamps) per second from the first to the last chunk.
    double chunks_per_s() const;
    double stamps_per_s() const;
};

class mqtt_peer {
public:
    // Connects with a clean MQTT 5 session; throws std::runtime_error when it cannot.
    mqtt_peer(const std::string& broker_url, const std::string& client_id);
    ~mqtt_peer();
    mqtt_peer(const mqtt_peer&) = delete;
    mqtt_peer& operator=(const mqtt_peer&) = delete;

    // Subscribes to the filters with QoS 1 and counts anew, for the requests r<first> ..
    // r<first + count - 1>; unsubscribe_all undoes it.
    void subscribe(const std::vector<std::string>& filters, std::size_t first, std::size_t count);
    void unsubscribe_all();

    // Publishes; waits while a window of messages is unacknowledged (QoS 1: until the broker's
    // PUBACK; QoS 0: until the library has sent it).
    void publish(const std::string& topic, std::string payload, int qos = 1, bool retain = false);
    // Waits until every published message is acknowledged; false at the deadline.
    bool flush(std::chrono::milliseconds timeout);

    // Waits until `n` terminals have arrived (`n` requests have started); false at the deadline.
    bool wait_terminals(std::size_t n, std::chrono::milliseconds timeout);
    bool wait_started(std::size_t n, std::chrono::milliseconds timeout);

    arrivals counts() const;
    // When the first chunk of request r<k> arrived (CLOCK_REALTIME ns); 0 when none has, or when
    // k is not a request of the subscription.
    std::int64_t first_chunk_ns(std::size_t k) const;
    // The latency samples so far (arrival minus stamp, ns), moved out.
    std::vector<std::int64_t> take_latencies();

private:
    class delivery;
    void on_message(std::string_view topic, std::string_view payload);
    void on_delivered();

    std::unique_ptr<mqtt::async_client> cli_;
    std::unique_ptr<delivery> delivery_;
    std::size_t window_ = 1024;

    mutable std::mutex mu_;
    std::condition_variable changed_;
    std::size_t in_flight_ = 0;
    bool refill_ = false;  // publish() waits for the window to drain to half
    arrivals counts_;
    std::vector<std::string> filters_;
    std::size_t first_ = 0;
    std::vector<std::uint8_t> state_;       // per request: 0 nothing yet, 1 streaming, 2 ended
    std::vector<std::int64_t> started_ns_;  // per request: when its first chunk arrived
    std::vector<std::int64_t> latencies_;
};

// Publishes `per_topic` chunk-shaped messages to the response topics of requests r<first> ..
// r<first + topics - 1>, round-robin, stamped like the mock server's deltas, then one done
// event per topic: what the bridge would send, without the bridge. rate_per_s 0: as fast as
// the broker takes them. The chunks go at `qos`, the done events at QoS 1.
void flood(mqtt_peer& pub, const std::string& prefix, std::size_t first, std::size_t topics,
           std::size_t per_topic, double rate_per_s, int qos);

// Where benchmark request k is asked ({prefix}/request/c<k % 100>) and answered
// ({prefix}/response/c<k % 100>/r<k>).
std::string request_topic(const std::string& prefix, std::size_t k);
std::string response_topic(const std::string& prefix, std::size_t k);

}  // namespace llmb::bench
