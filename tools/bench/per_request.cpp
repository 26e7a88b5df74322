#include "per_request.hpp"

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <vector>

#include "measure.hpp"
#include "sse_reader.hpp"

namespace llmb::bench {

void per_request(bench_env& env, itest::bridge& br, std::size_t requests, const std::string& tag,
                 samples& s) {
    using namespace std::chrono_literals;
    progress(tag + "per request: " + std::to_string(requests) + " requests of " +
             std::to_string(per_request_tokens) + " paced tokens, one at a time");
    const std::size_t first = env.next_ids(requests);
    env.sub().subscribe({response_filter, text_filter}, first, requests);
    const pid_t pid = br.proc().pid();
    std::vector<std::int64_t> through_bridge;
    through_bridge.reserve(requests);
    const auto cpu0 = cpu_times::now(env, pid);
    const auto t0 = std::chrono::steady_clock::now();
    bool complete = true;
    for (std::size_t i = 0; i < requests && complete; ++i) {
        const std::size_t k = first + i;
        const std::int64_t sent = realtime_ns();
        env.pub().publish(request_topic("llm", k),
                          request_payload(k, per_request_tokens, per_request_delay_us, 0));
        // The device waits for its answer before it asks again.
        complete = env.sub().wait_terminals(i + 1, 10s);
        through_bridge.push_back(env.sub().first_chunk_ns(k) - sent);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const cpu_times cpu = cpu_times::now(env, pid).since(cpu0);
    env.sub().unsubscribe_all();
    const arrivals a = env.sub().counts();
    if (!complete || a.errors > 0 || a.stamps != requests * per_request_tokens) {
        env.fail();
        std::cerr << "bench: per request: " << a.terminals << " of " << requests << " answers, "
                  << a.stamps << " tokens, " << a.errors << " errors " << a.first_error << "\n";
        return;
    }

    progress(tag + "per request, straight to the mock server: " + std::to_string(requests) +
             " requests");
    std::vector<std::int64_t> direct;
    try {
        direct =
            first_token_times(env.llm().url(), requests, per_request_tokens, per_request_delay_us);
    } catch (const std::runtime_error& e) {
        env.fail();
        std::cerr << "bench: per request, direct: " << e.what() << "\n";
        return;
    }

    const latency_summary bridged = summarize(through_bridge);
    const latency_summary alone = summarize(direct);
    const recorder add{s, "per_request", 1};
    const auto n = static_cast<double>(requests);
    const auto bridge_us = static_cast<double>(cpu.bridge) / 1e3;
    add("requests_per_s", n / seconds);
    add("cpu_us_per_request", bridge_us / n);
    add("cpu_us_per_token", bridge_us / static_cast<double>(a.stamps));
    add("publishes_per_request", static_cast<double>(a.messages) / n);
    add("broker_cpu_us_per_request", static_cast<double>(cpu.broker) / 1e3 / n);
    add("ttft_p50_ms", bridged.p50_ms);
    add("ttft_p99_ms", bridged.p99_ms);
    add("direct_ttft_p50_ms", alone.p50_ms);
    add("direct_ttft_p99_ms", alone.p99_ms);
    add("added_ttft_p50_ms", bridged.p50_ms - alone.p50_ms);
    add("added_ttft_p99_ms", bridged.p99_ms - alone.p99_ms);
}

}  // namespace llmb::bench
