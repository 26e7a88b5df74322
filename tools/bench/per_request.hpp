// The cost of one request at concurrency 1: one device asks one question at a time (closed
// loop) of a server paced like a real one, through the bridge with its defaults; and, in the
// same run, the same questions straight over HTTP, for the time to first token without the
// bridge.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "env.hpp"

namespace llmb::bench {

// The answer of every request: 64 tokens, one per delta, at about 850 tokens/s (a small model
// on llama-server).
constexpr std::size_t per_request_tokens = 64;
constexpr std::int64_t per_request_delay_us = 1'176;

// `requests` requests one after another through br, then as many straight to the mock server.
// Records "per_request.1.": the bridge's CPU per request and per token, the time to first
// token as the device sees it and as a direct HTTP client sees it (p50, p99), and their
// difference, the time the bridge (with the broker's two hops) adds.
void per_request(bench_env& env, itest::bridge& br, std::size_t requests, const std::string& tag,
                 samples& s);

}  // namespace llmb::bench
