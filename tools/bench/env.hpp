// What every measurement of the benchmark runs on: the programs it starts (mosquitto, the mock
// LLM server, bridges, the benchmark's own clients), the samples it keeps, the CPU time it
// reads, and the two ways a measurement sends chunks to the subscriber: through a bridge, or
// from a publisher straight to the broker.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "measure.hpp"
#include "mqtt_peer.hpp"
#include "services.hpp"

namespace llmb::bench {

// The paced loads of the latency measurements: a model's pace per stream, capped so that all
// streams together offer at most `cap` deltas per second (more streams, slower each, as when
// one server shares its capacity among more requests).
struct load {
    const char* name;       // the metrics' prefix
    std::int64_t every_us;  // between two deltas of one stream, before the cap
    double cap_per_s;
};
constexpr load light{"latency_light", 50'000, 2'000};  // 20 tokens/s, at most 2,000/s in all
constexpr load heavy{"latency", 10'000, 10'000};       // 100 tokens/s, at most 10,000/s

std::int64_t pace_us(const load& l, std::size_t streams);

// How a bridge of the benchmark differs from the defaults, beyond what every one of them sets
// (tools/bench/README.md).
struct bridge_setup {
    std::string state_dir;    // empty: sessions in memory
    bool text_mirror = true;  // the raw text on {prefix}/text/... (the default)
};

// Everything one benchmark run starts, and the bridges it starts on them.
class bench_env {
public:
    bench_env(int qos, std::size_t inflight, std::string bridge_binary);

    int qos() const { return qos_; }
    itest::test_dir& dir() { return dir_; }
    itest::broker& mqtt() { return mqtt_; }
    itest::mock_llm& llm() { return llm_; }
    mqtt_peer& sub() { return sub_; }
    mqtt_peer& pub() { return pub_; }

    std::unique_ptr<itest::bridge> start_bridge(const bridge_setup& setup = {});

    // A fresh range of request names, so that a late message of one measurement is never
    // counted in the next.
    std::size_t next_ids(std::size_t n) {
        const std::size_t first = next_id_;
        next_id_ += n;
        return first;
    }

    // A measurement that did not complete (streams that did not end, error events): the run
    // fails.
    void fail() { ++failures_; }
    int failures() const { return failures_; }

private:
    std::string bridge_yaml(const bridge_setup& setup) const;

    int qos_;
    std::string bridge_binary_;
    itest::test_dir dir_;
    itest::broker mqtt_;
    itest::mock_llm llm_;
    mqtt_peer sub_;
    mqtt_peer pub_;
    int bridges_ = 0;
    std::size_t next_id_ = 0;
    int failures_ = 0;
};

// Every response event of the benchmark's requests, and every raw text message.
extern const std::string response_filter;
extern const std::string text_filter;

std::string key_of(const std::string& what, std::size_t n, const std::string& metric);

// The request payload of benchmark request k: `tokens` stamped deltas, delay_us apart.
std::string request_payload(std::size_t k, std::size_t tokens, std::int64_t delay_us, int flush_ms);

// Samples of every metric of every repeat, by name "<what>.<n>.<metric>"; the report shows
// their medians.
class samples {
public:
    void add(const std::string& key, double v) { values_[key].push_back(v); }
    double median_of(const std::string& key) const;
    nlohmann::json to_json() const;

private:
    std::map<std::string, std::vector<double>> values_;
};

// Adds the metrics of one measurement ("<what>.<n>.").
struct recorder {
    samples& s;
    std::string what;
    std::size_t n;
    void operator()(const std::string& metric, double v) const {
        s.add(key_of(what, n, metric), v);
    }
};

// CPU time of every program taking part in a measurement.
struct cpu_times {
    std::int64_t bridge = 0, broker = 0, mock = 0, clients = 0;

    static cpu_times now(bench_env& env, pid_t bridge);
    cpu_times since(const cpu_times& start) const;
    // Microseconds per chunk of each program: "<who>_cpu_us_per_chunk".
    void record(const recorder& add, std::size_t chunks, bool with_bridge) const;
};

struct measured {
    arrivals a;
    latency_summary latency;
    cpu_times cpu;
    bool complete = false;
};

// n requests of `tokens` stamped tokens each through the bridge.
measured relay(bench_env& env, itest::bridge& br, std::size_t n, std::size_t tokens,
               std::int64_t delay_us, int flush_ms, std::chrono::milliseconds timeout);

// The broker alone: the same number of topics and messages of the same shape, one publisher
// (like the bridge) and the one subscriber.
measured broker_alone(bench_env& env, std::size_t topics, std::size_t per_topic, double rate);

void record_chunks(const recorder& add, const arrivals& a);
void record_latency(const recorder& add, const latency_summary& l);

// A line on stderr: what the benchmark is doing now.
void progress(const std::string& what);

}  // namespace llmb::bench
