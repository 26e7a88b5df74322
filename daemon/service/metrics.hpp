// What the bridge counts about the requests it serves, and the JSON of the retained metrics
// message. Pure: the caller feeds finished requests and fills in the gauges (in flight, queued,
// backends, uptime); nothing here reads a clock or does I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/error.hpp"

namespace llmb {

struct config;

// p50/p90/p99/max of a set of samples (milliseconds); all 0 when count is 0.
struct latency_summary {
    std::size_t count = 0;
    std::uint64_t p50 = 0;
    std::uint64_t p90 = 0;
    std::uint64_t p99 = 0;
    std::uint64_t max = 0;
};

// The nearest-rank percentile p (0 < p <= 100) of sorted samples: the smallest sample that at
// least p percent of the samples are not greater than. sorted must not be empty.
std::uint64_t nearest_rank(const std::vector<std::uint64_t>& sorted, double p);

// The last `capacity` samples (a ring): percentiles describe recent traffic, memory is bounded.
class sample_window {
public:
    explicit sample_window(std::size_t capacity);

    void add(std::uint64_t v);
    std::size_t size() const noexcept { return samples_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }
    // Sorts a copy: O(n log n) per call, meant for one call per metrics message.
    latency_summary summarize() const;

private:
    std::size_t capacity_;
    std::vector<std::uint64_t> samples_;
    std::size_t next_ = 0;  // where the next sample goes once the ring is full
};

// How one request ended, as request_stream reports it.
struct request_report {
    enum class end { done, cancelled, error };
    end how = end::done;
    std::optional<protocol::error_code> code;  // for end::error
    std::optional<std::uint64_t> ttft_ms;      // no text at all: none
    std::uint64_t duration_ms = 0;
    std::uint64_t chunks = 0;  // chunk events sent
    std::uint64_t bytes = 0;   // UTF-8 bytes of their text
};

struct backend_health {
    std::string name;
    bool up = true;
    std::uint32_t slots = 0;  // requests it runs at once now (configured or from its /props)
};

// Everything one metrics message says.
struct metrics_snapshot {
    std::string bridge_id;
    std::string version;
    std::int64_t time_s = 0;  // Unix time of the snapshot
    std::uint64_t uptime_s = 0;
    std::uint64_t interval_s = 0;
    // Requests that ran (a request_stream): by how they ended.
    std::uint64_t done = 0;
    std::uint64_t cancelled = 0;
    std::uint64_t failed = 0;
    // Requests answered with an error before they ran (unreadable, rate limited, overloaded...).
    std::uint64_t rejected = 0;
    std::uint64_t in_flight = 0;
    std::uint64_t queued = 0;  // waiting for a backend slot
    // Error events by code, rejected requests included; codes never seen are left out.
    std::vector<std::pair<std::string, std::uint64_t>> errors;
    latency_summary ttft_ms;      // requests that ended with done (not cancelled) and had text
    latency_summary duration_ms;  // requests that ended with done (not cancelled)
    std::size_t window = 0;       // how many recent requests the percentiles cover at most
    std::uint64_t chunks = 0;
    std::uint64_t bytes = 0;
    std::uint64_t mqtt_messages = 0;  // PUBLISH packets sent by the bridge, all topics
    std::vector<backend_health> backends;
    // What the replay store holds for resume: payload bytes, events and requests, and its bound.
    std::uint64_t replay_bytes = 0;
    std::uint64_t replay_entries = 0;
    std::uint64_t replay_requests = 0;
    std::uint64_t replay_max_bytes = 0;
};

// One line of JSON; the layout is documented in protocol/PROTOCOL.md, "Metrics".
std::string encode_metrics(const metrics_snapshot& s);

// The counters, fed on the event loop as requests end.
class metrics {
public:
    static constexpr std::size_t default_window = 1024;

    explicit metrics(std::size_t window = default_window);

    void on_finished(const request_report& r);
    void on_rejected(protocol::error_code code);

    // Fills the counters, error codes and percentiles of s; the gauges are the caller's.
    void fill(metrics_snapshot& s) const;

private:
    static constexpr std::size_t code_count =
        static_cast<std::size_t>(protocol::error_code::internal) + 1;

    std::uint64_t done_ = 0;
    std::uint64_t cancelled_ = 0;
    std::uint64_t failed_ = 0;
    std::uint64_t rejected_ = 0;
    std::array<std::uint64_t, code_count> errors_{};
    std::uint64_t chunks_ = 0;
    std::uint64_t bytes_ = 0;
    sample_window ttft_;
    sample_window duration_;
};

// Where the metrics message goes: metrics.topic, else "{first prefix}/metrics", with
// "/{bridge id}" appended when the bridge is in a cluster (cluster.group set).
std::string metrics_topic(const config& c);

}  // namespace llmb
