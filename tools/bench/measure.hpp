// What the benchmark computes from what it received: the stamps in a message, latency
// percentiles, medians over repeated runs and the CPU time of a process. Pure, except
// process_cpu_ns and realtime_ns.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace llmb::bench {

// CLOCK_REALTIME in nanoseconds: the clock of the mock server's stamps.
std::int64_t realtime_ns() noexcept;

// Calls f(ns) for every stamp "@<digits>;" in text, in order. Returns how many there were.
template <typename F>
std::size_t for_each_stamp(std::string_view text, F&& f) {
    std::size_t n = 0;
    for (std::size_t at = text.find('@'); at != std::string_view::npos;
         at = text.find('@', at + 1)) {
        std::int64_t v = 0;
        std::size_t i = at + 1;
        const std::size_t first = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - first < 19) {
            v = v * 10 + (text[i] - '0');
            ++i;
        }
        if (i > first && i < text.size() && text[i] == ';') {
            f(v);
            ++n;
        }
    }
    return n;
}

// The event type of a response message: the string value of its first "type" member, or empty.
std::string_view event_type(std::string_view payload) noexcept;

// The number after `"id":"r` in a payload (the benchmark names request k "r<k>"), or nullopt.
std::optional<std::size_t> request_index(std::string_view payload) noexcept;

// The number of the last topic level "r<k>" (the benchmark's request k), or nullopt.
std::optional<std::size_t> topic_request_index(std::string_view topic) noexcept;

struct latency_summary {
    std::size_t count = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    double max_ms = 0;
};

// Nearest-rank percentiles of samples (nanoseconds); sorts them.
latency_summary summarize(std::vector<std::int64_t>& samples);

// The nearest-rank value at fraction q (0 < q <= 1) of sorted samples.
std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, double q);

// The median of values (the mean of the middle two for an even count); 0 for none.
double median(std::vector<double> values);

// CPU time (user + system, all threads) a process has used, from /proc/PID/stat; the same
// accounting as its getrusage(RUSAGE_SELF). nullopt when the process is gone.
std::optional<std::int64_t> process_cpu_ns(pid_t pid);

}  // namespace llmb::bench
