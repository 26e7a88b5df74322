// The mock server's own ceiling: `streams` concurrent streamed chat completions read with
// libcurl's multi interface, as the bridge reads them, but with nothing done with the deltas
// except counting them and their stamps.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace llmb::bench {

struct sse_result {
    std::size_t deltas = 0;  // stamped content deltas read
    std::size_t failed = 0;  // transfers that did not end with HTTP 200
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;
    std::vector<std::int64_t> latencies;  // read time minus stamp, ns

    double deltas_per_s() const;
};

// POSTs `streams` requests for `tokens` stamped tokens each (delay_us apart; 0: at full
// speed) to base_url/v1/chat/completions and reads them all to the end, or until the timeout.
sse_result read_streams(const std::string& base_url, std::size_t streams, std::size_t tokens,
                        std::int64_t delay_us, std::chrono::milliseconds timeout);

// One request at a time (closed loop) on one kept-alive connection: `requests` streams of
// `tokens` stamped tokens each, delay_us apart, each read to its end. The time from sending each
// request to reading its first stamped delta (ns), as a client talking to the server directly
// sees it. Throws std::runtime_error when a transfer fails.
std::vector<std::int64_t> first_token_times(const std::string& base_url, std::size_t requests,
                                            std::size_t tokens, std::int64_t delay_us);

}  // namespace llmb::bench
