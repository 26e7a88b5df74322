#include "env.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <thread>

namespace llmb::bench {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;

itest::broker_options broker_opts(std::size_t inflight) {
    itest::broker_options b;
    // One subscriber takes every stream: no per-client queue limit (mosquitto would drop
    // messages beyond 1,000), and a window of 1,000 unacknowledged messages each way
    // instead of 20, for the ceiling and the bridge alike.
    b.max_queued_messages = 0;
    b.max_inflight_messages = inflight;
    return b;
}

// Waits for every terminal of requests [first, first + n) and takes what the subscriber got.
measured finish(bench_env& env, std::size_t n, const cpu_times& start, pid_t bridge,
                std::chrono::milliseconds timeout, const std::string& what) {
    measured r;
    r.complete = env.sub().wait_terminals(n, timeout);
    r.cpu = cpu_times::now(env, bridge).since(start);
    env.sub().unsubscribe_all();
    r.a = env.sub().counts();
    auto samples = env.sub().take_latencies();
    r.latency = summarize(samples);
    if (!r.complete || r.a.errors > 0) {
        env.fail();
    }
    if (!r.complete) {
        std::cerr << "bench: " << what << ": only " << r.a.terminals << " of " << n
                  << " streams ended within " << timeout.count() << " ms\n";
    }
    if (r.a.errors > 0) {
        std::cerr << "bench: " << what << ": " << r.a.errors
                  << " error events, the first: " << r.a.first_error << "\n";
    }
    return r;
}

}  // namespace

const std::string response_filter = "llm/response/#";
const std::string text_filter = "llm/text/#";

std::int64_t pace_us(const load& l, std::size_t streams) {
    return std::max<std::int64_t>(
        l.every_us, static_cast<std::int64_t>(static_cast<double>(streams) * 1e6 / l.cap_per_s));
}

bench_env::bench_env(int qos, std::size_t inflight, std::string bridge_binary)
    : qos_(qos),
      bridge_binary_(std::move(bridge_binary)),
      mqtt_(dir_, broker_opts(inflight)),
      llm_(dir_),
      sub_(mqtt_.url(), "bench-sub"),
      pub_(mqtt_.url(), "bench-pub") {}

std::unique_ptr<itest::bridge> bench_env::start_bridge(const bridge_setup& setup) {
    itest::bridge_options o;
    o.log_name = "llm-mqtt-bridge-" + std::to_string(++bridges_);
    o.config = dir_.file(o.log_name + ".yaml");
    itest::write_file(o.config, bridge_yaml(setup));
    o.binary = bridge_binary_;
    o.args = {"--log-level", "warn"};
    return std::make_unique<itest::bridge>(dir_, mqtt_, "", o);
}

std::string bench_env::bridge_yaml(const bridge_setup& setup) const {
    // The defaults, except what lets one benchmark client run thousands of requests: no rate
    // limit, enough slots, no per-client cap, sessions in memory unless a measurement is about
    // their files. The raw text mirror and QoS stay at their defaults unless asked otherwise.
    std::string mqtt;
    if (!setup.text_mirror) {
        mqtt += "  text_topic: false\n";
    }
    if (qos_ != 1) {
        mqtt += "  qos: " + std::to_string(qos_) + "\n";
    }
    return (mqtt.empty() ? "" : "mqtt:\n" + mqtt) +
           "backends:\n  - name: mock\n    url: " + llm_.url() +
           "\n    slots: 20000\n    queue: 1000\n"
           "projects:\n  - prefix: llm\n    limits:\n      rate_per_second: 0\n"
           "      rate_burst: 100000\n      max_concurrent_per_client: 10000\n"
           "sessions:\n  state_dir: \"" +
           setup.state_dir +
           "\"\n"
           "max_in_flight: 20000\n"
           "log_level: warn\n";
}

std::string key_of(const std::string& what, std::size_t n, const std::string& metric) {
    return what + "." + std::to_string(n) + "." + metric;
}

std::string request_payload(std::size_t k, std::size_t tokens, std::int64_t delay_us,
                            int flush_ms) {
    std::string p = "{\"id\":\"r" + std::to_string(k) +
                    "\",\"prompt\":\"#mock stamp tokens=" + std::to_string(tokens);
    if (delay_us > 0) {
        p += " delay_us=" + std::to_string(delay_us);
    }
    p += "\"";
    if (flush_ms > 0) {
        p += ",\"flush_ms\":" + std::to_string(flush_ms);
    }
    return p + "}";
}

double samples::median_of(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? 0.0 : median(it->second);
}

json samples::to_json() const {
    json j = json::object();
    for (const auto& [k, v] : values_) {
        j[k] = v;
    }
    return j;
}

cpu_times cpu_times::now(bench_env& env, pid_t bridge) {
    cpu_times t;
    if (bridge > 0) {
        t.bridge = process_cpu_ns(bridge).value_or(0);
    }
    t.broker = process_cpu_ns(env.mqtt().proc().pid()).value_or(0);
    t.mock = process_cpu_ns(env.llm().proc().pid()).value_or(0);
    t.clients = process_cpu_ns(::getpid()).value_or(0);
    return t;
}

cpu_times cpu_times::since(const cpu_times& start) const {
    return {bridge - start.bridge, broker - start.broker, mock - start.mock,
            clients - start.clients};
}

void cpu_times::record(const recorder& add, std::size_t chunks, bool with_bridge) const {
    const double c = chunks ? static_cast<double>(chunks) : 1.0;
    auto us = [&](std::int64_t ns) { return static_cast<double>(ns) / 1e3 / c; };
    if (with_bridge) {
        add("cpu_us_per_chunk", us(bridge));
    }
    add("broker_cpu_us_per_chunk", us(broker));
    add("mock_cpu_us_per_chunk", us(mock));
    add("clients_cpu_us_per_chunk", us(clients));
}

// n requests of `tokens` stamped tokens each through the bridge.
measured relay(bench_env& env, itest::bridge& br, std::size_t n, std::size_t tokens,
               std::int64_t delay_us, int flush_ms, std::chrono::milliseconds timeout) {
    const std::size_t first = env.next_ids(n);
    // The raw text mirror too: every PUBLISH of the bridge is counted.
    env.sub().subscribe({response_filter, text_filter}, first, n);
    const pid_t pid = br.proc().pid();
    const auto start = cpu_times::now(env, pid);
    // Paced streams start spread over one interval, as independent devices would, rather
    // than all at once with their deltas in step.
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t k = first; k < first + n; ++k) {
        if (delay_us > 0) {
            std::this_thread::sleep_until(
                t0 + std::chrono::microseconds(delay_us * static_cast<std::int64_t>(k - first) /
                                               static_cast<std::int64_t>(n)));
        }
        env.pub().publish(request_topic("llm", k), request_payload(k, tokens, delay_us, flush_ms));
    }
    return finish(env, n, start, pid, timeout, "relay of " + std::to_string(n) + " streams");
}

// The broker alone: the same number of topics and messages of the same shape, one publisher
// (like the bridge) and the one subscriber. The publisher is a process of its own, as the
// bridge is: Paho's C library serialises all clients of one process on shared locks.
measured broker_alone(bench_env& env, std::size_t topics, std::size_t per_topic, double rate) {
    const std::size_t first = env.next_ids(topics);
    env.sub().subscribe({response_filter}, first, topics);
    itest::process publisher(
        "flood-" + std::to_string(first),
        {fs::read_symlink("/proc/self/exe").string(), "--flood", env.mqtt().url(),
         std::to_string(first), std::to_string(topics), std::to_string(per_topic),
         std::to_string(rate), std::to_string(env.qos())},
        env.dir().path());
    const auto start = cpu_times::now(env, publisher.pid());
    measured r = finish(env, topics, start, publisher.pid(), 120s,
                        "broker alone, " + std::to_string(topics) + " topics");
    if (publisher.wait_exit(30s) != 0) {
        env.fail();
        std::cerr << "bench: the publisher failed: " << publisher.stderr_text() << "\n";
    }
    return r;
}

void record_chunks(const recorder& add, const arrivals& a) {
    add("chunks_per_s", a.chunks_per_s());
    add("bytes_per_chunk",
        a.chunks ? static_cast<double>(a.bytes) / static_cast<double>(a.chunks) : 0);
}

void record_latency(const recorder& add, const latency_summary& l) {
    add("p50_ms", l.p50_ms);
    add("p99_ms", l.p99_ms);
    add("max_ms", l.max_ms);
}

void progress(const std::string& what) {
    std::cerr << "bench: " << what << std::endl;
}

}  // namespace llmb::bench
