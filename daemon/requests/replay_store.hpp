// The events recently sent on response topics, kept so that a device that lost some while it
// was away (a clean session dropped mid-answer) can ask for them again (resume). Pure: no MQTT,
// no clock (times are passed in), so that its bounds are unit-tested.
//
// Bounds: each request holds at most request_bytes of payload (its oldest events go first), and
// all together at most total_bytes. Over the total, whole finished requests go first (the one
// that finished first, first), then the oldest events of running ones. A finished request is
// held ttl after its terminal.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmb {

struct replay_limits {
    std::size_t request_bytes = 0;  // payload bytes per request; 0: nothing is held
    std::size_t total_bytes = 0;    // payload bytes of all requests; 0: nothing is held
    std::chrono::seconds ttl{0};    // how long a finished request is held after its terminal
};

class replay_store {
public:
    using time_point = std::chrono::steady_clock::time_point;

    explicit replay_store(replay_limits limits);

    // New limits (a reload); what is held beyond them goes now.
    void set_limits(const replay_limits& limits);

    // Starts holding the events of a request: topic and Correlation Data are those its events
    // are published with. A request held under the same key before (a finished one whose id is
    // used again) is dropped.
    void open(const std::string& key, std::string topic, std::string correlation);
    // Holds payload as event seq of the request. A seq equal to the last one recorded replaces
    // that event's payload (text joined to a chunk that had not gone out yet); otherwise seq
    // follows the last one (a gap drops what was held before it). Unknown keys are ignored.
    void record(const std::string& key, std::uint64_t seq, std::string payload);
    // The request sent its terminal: held until now + ttl.
    void finish(const std::string& key, time_point now);
    // Drops the finished requests whose ttl has passed.
    void expire(time_point now);

    enum class outcome {
        replay,   // payloads: the events from from_seq on (empty when the device has them all)
        unknown,  // no request is held under this key (never, expired or evicted whole)
        evicted,  // the request is held, but no longer from from_seq
    };
    struct lookup {
        outcome result = outcome::unknown;
        std::string topic;
        std::string correlation;
        std::vector<std::string> payloads;
        bool finished = false;        // the terminal is among what is held (or was evicted)
        std::uint64_t first_seq = 0;  // the first seq still held (evicted: what can be had)
    };
    lookup find(const std::string& key, std::uint64_t from_seq, time_point now) const;

    std::size_t bytes() const noexcept { return bytes_; }      // payload bytes held
    std::size_t entries() const noexcept { return entries_; }  // events held
    std::size_t requests() const noexcept { return held_.size(); }
    const replay_limits& limits() const noexcept { return limits_; }

private:
    struct held_event {
        std::uint64_t seq = 0;
        std::uint64_t order = 0;  // when it was recorded, across all requests
        std::string payload;
    };
    struct held_request {
        std::string topic;
        std::string correlation;
        std::deque<held_event> events;
        std::uint64_t next_seq = 0;  // the seq after the last one recorded
        std::size_t bytes = 0;
        bool finished = false;
        time_point expires{};
        std::uint64_t finish_order = 0;
    };
    using held_map = std::unordered_map<std::string, held_request>;

    // The first seq still held: the oldest event's, or next_seq when none is.
    static std::uint64_t first_seq(const held_request& r) noexcept;
    void drop_front(held_map::iterator it);
    void drop(held_map::iterator it);
    // Keeps it within request_bytes, then everything within total_bytes.
    void bound(held_map::iterator it);
    void bound_total();

    replay_limits limits_;
    held_map held_;
    // Running requests with events held, by the order of their oldest event (oldest first).
    std::map<std::uint64_t, std::string> running_;
    // Finished requests in the order they finished (oldest first).
    std::map<std::uint64_t, std::string> finished_;
    std::uint64_t order_ = 0;
    std::size_t bytes_ = 0;
    std::size_t entries_ = 0;
};

}  // namespace llmb
