// The benchmark's measurements, phase by phase (tools/bench/README.md says what each does).
#pragma once

#include <cstddef>
#include <string>

#include "env.hpp"
#include "options.hpp"
#include "report.hpp"

namespace llmb::bench {

// One repeat of the repeated phases (ceilings, relay, latency, coalescing, sessions).
void run_repeat(bench_env& env, const options& o, int repeat, samples& s);

// n streams at once through a fresh bridge: 24 deltas spread over stream_s seconds, so that
// all of them are streaming when the last one starts; then idle_s seconds without traffic.
scale_row scale(bench_env& env, std::size_t n, double stream_s, double idle_s);

}  // namespace llmb::bench
