// llm-mqtt-bench: the bridge measured against the limits of the machine it runs on.
//
// Starts its own mosquitto, mock LLM server and bridges on loopback ports and measures, in one
// run: relay throughput beside the broker's and the mock server's own ceilings, the latency a
// delta takes from the mock server to a subscriber, how many concurrent streams a bridge holds
// and at what memory, the bridge's CPU per chunk and at idle, and what coalescing (flush_ms)
// does. Prints a table, writes bench.json and bench.png (with gnuplot). See tools/bench/README.md.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "measure.hpp"
#include "mqtt_peer.hpp"
#include "report.hpp"
#include "services.hpp"
#include "sse_reader.hpp"

namespace llmb::bench {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* usage = R"(Usage: llm-mqtt-bench [options]

Starts mosquitto, the mock LLM server and llm-mqtt-bridge on 127.0.0.1 and measures the bridge
against the broker's and the mock server's own limits. Prints a table; writes bench.json, and
bench.png when gnuplot is installed, to the output directory.

  --out DIR          where the results go (default: bench-results)
  --repeats N        runs of the throughput, latency and coalescing measurements; the table
                     shows their median (default 3)
  --streams LIST     concurrent streams of those measurements (default 1,100,1000)
  --scale LIST       concurrent streams the scale measurement tries (default 1000,5000,10000)
  --chunks N         chunks per throughput measurement (default 100000)
  --pace-s S         length of a paced latency measurement in seconds (default 3)
  --scale-s S        how long each stream of the scale measurement lasts (default 12): longer
                     than it takes to start them all
  --idle-s S         idle CPU measured over S seconds (default 30)
  --qos 0|1          QoS of the bridge's response events and of the broker-alone messages
                     (default 1, the bridge's default)
  --only LIST        run only these phases: ceilings, relay, latency, coalescing, sessions,
                     scale
  --bridge PATH      the llm-mqtt-bridge binary to measure (default: the one built with this
                     benchmark), e.g. one built from other code, for a before/after comparison
  --smoke            a quick run that checks the benchmark works (about 40 s): one repeat,
                     small sizes; its numbers are not for comparison
  --help
)";

struct options {
    fs::path out = "bench-results";
    int repeats = 3;
    std::vector<std::size_t> streams{1, 100, 1000};
    std::vector<std::size_t> scale{1000, 5000, 10000};
    std::size_t chunks = 100000;
    double pace_s = 3;
    double idle_s = 30;
    double scale_s = 12;          // how long each stream of the scale measurement lasts
    int qos = 1;                  // of the bridge's chunks and of the broker-alone messages
    std::size_t inflight = 1000;  // mosquitto's max_inflight_messages
    bool smoke = false;
    std::vector<std::string> only;  // phases to run; empty: all
    std::string bridge;             // the bridge binary; empty: the one built here
};

std::vector<std::size_t> parse_list(const std::string& s) {
    std::vector<std::size_t> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        out.push_back(std::stoul(item));
    }
    if (out.empty()) {
        throw std::invalid_argument("empty list");
    }
    return out;
}

std::optional<options> parse_options(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                throw std::invalid_argument(arg + " needs a value");
            }
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return std::nullopt;
        } else if (arg == "--out") {
            o.out = value();
        } else if (arg == "--repeats") {
            o.repeats = std::max(1, std::stoi(value()));
        } else if (arg == "--streams") {
            o.streams = parse_list(value());
        } else if (arg == "--scale") {
            o.scale = parse_list(value());
        } else if (arg == "--chunks") {
            o.chunks = std::stoul(value());
        } else if (arg == "--pace-s") {
            o.pace_s = std::stod(value());
        } else if (arg == "--idle-s") {
            o.idle_s = std::stod(value());
        } else if (arg == "--only") {
            std::stringstream in(value());
            for (std::string p; std::getline(in, p, ',');) {
                o.only.push_back(p);
            }
        } else if (arg == "--smoke") {
            o.smoke = true;
            o.repeats = 1;
            o.streams = {1, 10, 100};
            o.scale = {200, 500};
            o.chunks = 5000;
            o.pace_s = 0.7;
            o.idle_s = 2;
            o.scale_s = 2;
        } else if (arg == "--qos") {
            o.qos = std::stoi(value());
            if (o.qos != 0 && o.qos != 1) {
                throw std::invalid_argument("--qos is 0 or 1");
            }
        } else if (arg == "--inflight") {
            o.inflight = std::stoul(value());
        } else if (arg == "--bridge") {
            o.bridge = value();
        } else if (arg == "--scale-s") {
            o.scale_s = std::stod(value());
        } else {
            throw std::invalid_argument("unknown option " + arg);
        }
    }
    return o;
}

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

std::int64_t pace_us(const load& l, std::size_t streams) {
    return std::max<std::int64_t>(
        l.every_us, static_cast<std::int64_t>(static_cast<double>(streams) * 1e6 / l.cap_per_s));
}

// Everything one benchmark run starts, and the bridges it starts on them.
class bench_env {
public:
    bench_env(int qos, std::size_t inflight, std::string bridge_binary)
        : qos_(qos),
          bridge_binary_(std::move(bridge_binary)),
          mqtt_(dir_, broker_opts(inflight)),
          llm_(dir_),
          sub_(mqtt_.url(), "bench-sub"),
          pub_(mqtt_.url(), "bench-pub") {
        itest::write_file(dir_.file("bridge.yaml"), bridge_yaml(""));
    }

    int qos() const { return qos_; }
    itest::test_dir& dir() { return dir_; }
    itest::broker& mqtt() { return mqtt_; }
    itest::mock_llm& llm() { return llm_; }
    mqtt_peer& sub() { return sub_; }
    mqtt_peer& pub() { return pub_; }

    // state_dir empty: sessions in memory (the configuration of every measurement but one).
    std::unique_ptr<itest::bridge> start_bridge(const std::string& state_dir = "") {
        itest::bridge_options o;
        o.config = dir_.file("bridge.yaml");
        if (!state_dir.empty()) {
            o.config = dir_.file("bridge-sessions.yaml");
            itest::write_file(o.config, bridge_yaml(state_dir));
        }
        o.binary = bridge_binary_;
        o.args = {"--log-level", "warn"};
        o.log_name = "llm-mqtt-bridge-" + std::to_string(++bridges_);
        return std::make_unique<itest::bridge>(dir_, mqtt_, "", o);
    }

    // A fresh range of request names, so that a late message of one measurement is never
    // counted in the next.
    std::size_t next_ids(std::size_t n) {
        const std::size_t first = next_id_;
        next_id_ += n;
        return first;
    }

private:
    static itest::broker_options broker_opts(std::size_t inflight) {
        itest::broker_options b;
        // One subscriber takes every stream: no per-client queue limit (mosquitto would drop
        // messages beyond 1,000), and a window of 1,000 unacknowledged messages each way
        // instead of 20, for the ceiling and the bridge alike.
        b.max_queued_messages = 0;
        b.max_inflight_messages = inflight;
        return b;
    }

    std::string bridge_yaml(const std::string& state_dir) const {
        // The defaults, except what lets one benchmark client run thousands of requests: no
        // rate limit, enough slots, no per-client cap, no text topic (the subscriber would get
        // every slice twice), sessions in memory unless a measurement is about their files.
        return "mqtt:\n  text_topic: false\n  qos: " + std::to_string(qos_) +
               "\n"
               "backends:\n  - name: mock\n    url: " +
               llm_.url() +
               "\n    slots: 20000\n    queue: 1000\n"
               "projects:\n  - prefix: llm\n    limits:\n      rate_per_second: 0\n"
               "      rate_burst: 100000\n      max_concurrent_per_client: 10000\n"
               "sessions:\n  state_dir: \"" +
               state_dir +
               "\"\n"
               "max_in_flight: 20000\n"
               "log_level: warn\n";
    }

    int qos_;
    std::string bridge_binary_;
    itest::test_dir dir_;
    itest::broker mqtt_;
    itest::mock_llm llm_;
    mqtt_peer sub_;
    mqtt_peer pub_;
    int bridges_ = 0;
    std::size_t next_id_ = 0;
};

std::string key_of(const std::string& what, std::size_t n, const std::string& metric) {
    return what + "." + std::to_string(n) + "." + metric;
}

const std::string response_filter = "llm/response/#";

// Measurements that did not complete (streams that did not end, error events): the run fails.
int failures = 0;

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

// Samples of every metric of every repeat, by name "<what>.<n>.<metric>"; the report shows
// their medians.
class samples {
public:
    void add(const std::string& key, double v) { values_[key].push_back(v); }
    double median_of(const std::string& key) const {
        auto it = values_.find(key);
        return it == values_.end() ? 0.0 : median(it->second);
    }
    json to_json() const {
        json j = json::object();
        for (const auto& [k, v] : values_) {
            j[k] = v;
        }
        return j;
    }

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

    static cpu_times now(bench_env& env, pid_t bridge) {
        cpu_times t;
        if (bridge > 0) {
            t.bridge = process_cpu_ns(bridge).value_or(0);
        }
        t.broker = process_cpu_ns(env.mqtt().proc().pid()).value_or(0);
        t.mock = process_cpu_ns(env.llm().proc().pid()).value_or(0);
        t.clients = process_cpu_ns(::getpid()).value_or(0);
        return t;
    }
    cpu_times since(const cpu_times& start) const {
        return {bridge - start.bridge, broker - start.broker, mock - start.mock,
                clients - start.clients};
    }
    // Microseconds per chunk of each program: "<who>_cpu_us_per_chunk".
    void record(const recorder& add, std::size_t chunks, bool with_bridge) const {
        const double c = chunks ? static_cast<double>(chunks) : 1.0;
        auto us = [&](std::int64_t ns) { return static_cast<double>(ns) / 1e3 / c; };
        if (with_bridge) {
            add("cpu_us_per_chunk", us(bridge));
        }
        add("broker_cpu_us_per_chunk", us(broker));
        add("mock_cpu_us_per_chunk", us(mock));
        add("clients_cpu_us_per_chunk", us(clients));
    }
};

struct measured {
    arrivals a;
    latency_summary latency;
    cpu_times cpu;
    bool complete = false;
};

// Waits for every terminal of requests [first, first + n) and takes what the subscriber got.
measured finish(bench_env& env, std::size_t n, const cpu_times& start, pid_t bridge,
                std::chrono::milliseconds timeout, const std::string& what) {
    measured r;
    r.complete = env.sub().wait_terminals(n, timeout);
    r.cpu = cpu_times::now(env, bridge).since(start);
    env.sub().unsubscribe(response_filter);
    r.a = env.sub().counts();
    auto samples = env.sub().take_latencies();
    r.latency = summarize(samples);
    if (!r.complete || r.a.errors > 0) {
        ++failures;
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

// n requests of `tokens` stamped tokens each through the bridge.
measured relay(bench_env& env, itest::bridge& br, std::size_t n, std::size_t tokens,
               std::int64_t delay_us, int flush_ms, std::chrono::milliseconds timeout) {
    const std::size_t first = env.next_ids(n);
    env.sub().subscribe(response_filter, first, n);
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
    env.sub().subscribe(response_filter, first, topics);
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
        ++failures;
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

bool wanted(const options& o, const std::string& phase) {
    return o.only.empty() || std::find(o.only.begin(), o.only.end(), phase) != o.only.end();
}

// Session files (*.json) in a directory tree.
std::size_t files_under(const fs::path& dir) {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().extension() == ".json") {
            ++n;
        }
    }
    return n;
}

// 100 paced streams at the light load (20 tokens/s each, 2,000 deltas/s in all: a load the
// bridge relays within a few ms, so that a stall shows) through a bridge that keeps sessions
// in a state directory, while another client holds conversations: 50 session
// turns per second round the clock over 50 sessions (each session one turn a second, as a
// device waits for its answer), each turn rewriting its session's file (with fsync) when it is
// stored and again when the server's token count for it arrives. The chunk latency of the
// streams shows what the session files cost them.
void sessions_phase(bench_env& env, const options& o, const std::string& tag, int repeat,
                    samples& s) {
    const std::size_t n = o.smoke ? 10 : 100;
    const std::size_t sessions = o.smoke ? 10 : 50;  // and turns per second
    const std::int64_t pace = pace_us(light, n);
    const auto tokens = static_cast<std::size_t>(o.pace_s * 1e6 / static_cast<double>(pace));
    const fs::path state = env.dir().path() / ("state-" + std::to_string(repeat));
    auto br = env.start_bridge(state.string());
    mqtt_peer talker(env.mqtt().url(), "bench-turns-" + std::to_string(repeat));
    std::atomic<bool> stop{false};
    std::size_t turns = 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::thread talk([&] {
        // At least one turn of every session, however short the streams.
        for (std::size_t j = 0; !stop || j < sessions; ++j) {
            std::this_thread::sleep_until(t0 + std::chrono::microseconds(static_cast<std::int64_t>(
                                                   j * 1'000'000 / sessions)));
            talker.publish("llm/request/turns",
                           "{\"id\":\"t" + std::to_string(j) + "\",\"session\":\"s" +
                               std::to_string(j % sessions) +
                               "\",\"prompt\":\"#mock tokens=8\\nhow are you today?\"}");
            ++turns;
        }
    });
    progress(tag + "session turns, " + std::to_string(sessions) + " per second, beside " +
             std::to_string(n) + " paced streams");
    const measured m = relay(env, *br, n, tokens, pace, 0, 120s);
    stop = true;
    talk.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    talker.flush(10s);
    // Every session's file, once its first turn is answered and written.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::size_t files = 0;
    while ((files = files_under(state / "sessions")) < sessions &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    br.reset();
    if (files != sessions) {
        ++failures;
        std::cerr << "bench: session turns: " << files << " session files, expected " << sessions
                  << "\n";
    }
    const recorder add{s, "sessions", n};
    record_latency(add, m.latency);
    add("turns_per_s", static_cast<double>(turns) / seconds);
    m.cpu.record(add, m.a.chunks, true);
}

void run_repeat(bench_env& env, const options& o, int repeat, samples& s) {
    const std::string tag =
        "[" + std::to_string(repeat + 1) + "/" + std::to_string(o.repeats) + "] ";
    for (std::size_t n : o.streams) {
        const std::size_t per = std::max<std::size_t>(1, o.chunks / n);
        if (wanted(o, "ceilings")) {
            progress(tag + "broker alone, " + std::to_string(n) + " topics");
            const measured b = broker_alone(env, n, per, 0);
            record_chunks({s, "broker", n}, b.a);
            b.cpu.record({s, "broker", n}, b.a.chunks, true);

            progress(tag + "mock server alone, " + std::to_string(n) + " streams");
            const auto cpu0 = cpu_times::now(env, -1);
            const sse_result m = read_streams(env.llm().url(), n, per, 0, 120s);
            if (m.failed > 0) {
                ++failures;
                std::cerr << "bench: mock server alone: " << m.failed << " of " << n
                          << " streams failed\n";
            }
            s.add(key_of("mock", n, "deltas_per_s"), m.deltas_per_s());
            cpu_times::now(env, -1).since(cpu0).record({s, "mock", n}, m.deltas, false);
        }
    }

    if (wanted(o, "sessions")) {
        sessions_phase(env, o, tag, repeat, s);
    }

    if (!wanted(o, "relay") && !wanted(o, "latency") && !wanted(o, "coalescing")) {
        return;
    }
    auto br = env.start_bridge();
    for (std::size_t n : o.streams) {
        if (wanted(o, "relay")) {
            const std::size_t per = std::max<std::size_t>(1, o.chunks / n);
            progress(tag + "relay at full speed, " + std::to_string(n) + " streams");
            const measured r = relay(env, *br, n, per, 0, 0, 300s);
            record_chunks({s, "relay", n}, r.a);
            r.cpu.record({s, "relay", n}, r.a.chunks, true);
        }
        for (const load& l : {light, heavy}) {
            if (!wanted(o, "latency")) {
                break;
            }
            const std::int64_t pace = pace_us(l, n);
            const double per_s = static_cast<double>(n) * 1e6 / static_cast<double>(pace);
            const std::size_t tokens = std::max<std::size_t>(
                5, static_cast<std::size_t>(o.pace_s * 1e6 / static_cast<double>(pace)));
            progress(tag + "latency, " + std::to_string(n) + " streams, a delta every " +
                     std::to_string(pace / 1000) + " ms");
            const measured m = relay(env, *br, n, tokens, pace, 0, 120s);
            const recorder add{s, l.name, n};
            record_latency(add, m.latency);
            add("offered_per_s", per_s);
            m.cpu.record(add, m.a.chunks, true);

            progress(tag + "latency of the mock server alone, " + std::to_string(n) + " streams");
            sse_result alone = read_streams(env.llm().url(), n, tokens, pace, 120s);
            record_latency({s, std::string("mock_") + l.name, n}, summarize(alone.latencies));

            progress(tag + "latency of the broker alone, " + std::to_string(n) + " topics");
            const measured b = broker_alone(env, n, tokens, per_s);
            record_latency({s, std::string("broker_") + l.name, n}, b.latency);
        }
    }

    if (wanted(o, "coalescing")) {
        const std::size_t cn = o.smoke ? 10 : 100;
        const std::int64_t pace = pace_us(heavy, cn);
        const auto tokens = static_cast<std::size_t>(o.pace_s * 1e6 / static_cast<double>(pace));
        for (int flush : {0, 20, 100}) {
            progress(tag + "coalescing, " + std::to_string(cn) + " streams, flush_ms " +
                     std::to_string(flush));
            const measured c = relay(env, *br, cn, tokens, pace, flush, 120s);
            const recorder add{s, "flush", static_cast<std::size_t>(flush)};
            add("messages_per_s", c.a.chunks_per_s());
            add("deltas_per_s", c.a.stamps_per_s());
            record_latency(add, c.latency);
        }
    }
}

std::size_t rss_kb(pid_t pid) {
    return itest::proc_status_kb(pid, "VmRSS").value_or(0);
}

// n streams at once through a fresh bridge: 24 deltas spread over stream_s seconds, so that
// all of them are streaming when the last one starts.
scale_row scale(bench_env& env, std::size_t n, double stream_s, double idle_s) {
    scale_row r;
    r.streams = n;
    auto br = env.start_bridge();
    const pid_t pid = br->proc().pid();
    r.rss_idle_kb = static_cast<double>(rss_kb(pid));
    const std::size_t first = env.next_ids(n);
    env.sub().subscribe(response_filter, first, n);
    for (std::size_t k = first; k < first + n; ++k) {
        env.pub().publish(
            request_topic("llm", k),
            request_payload(k, 24, static_cast<std::int64_t>(stream_s * 1e6 / 24), 0));
    }
    env.sub().wait_started(n, 60s);
    r.rss_kb = static_cast<double>(rss_kb(pid));
    const arrivals peak = env.sub().counts();
    r.held = peak.streaming;
    r.all_done = env.sub().wait_terminals(n, 120s);
    env.sub().unsubscribe(response_filter);
    const arrivals end = env.sub().counts();
    r.errors = end.errors;
    if (!r.all_done || end.errors > 0) {
        ++failures;
    }
    if (end.errors > 0) {
        std::cerr << "bench: scale " << n << ": " << end.errors
                  << " error events, the first: " << end.first_error << "\n";
    }
    if (idle_s > 0) {
        // After the last stream, a moment for the bridge to finish its bookkeeping, then
        // nothing: a bridge that polls shows here.
        std::this_thread::sleep_for(1s);
        const auto c0 = process_cpu_ns(pid).value_or(0);
        const auto t0 = std::chrono::steady_clock::now();
        std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
        const auto c1 = process_cpu_ns(pid).value_or(0);
        const double wall_ns =
            static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::steady_clock::now() - t0)
                                    .count());
        r.cpu_idle_percent = 100.0 * static_cast<double>(c1 - c0) / wall_ns;
        r.idle_s = wall_ns / 1e9;
    }
    return r;
}

// Raises the soft limit of open files to the hard one (children inherit it): a bridge with
// 10,000 streams holds 10,000 upstream connections, and the mock server as many.
rlim_t raise_fd_limit() {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

json machine_info(rlim_t fd_limit) {
    json m;
    utsname u{};
    uname(&u);
    m["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
    m["cores"] = std::thread::hardware_concurrency();
    std::ifstream cpu("/proc/cpuinfo");
    for (std::string line; std::getline(cpu, line);) {
        if (line.rfind("model name", 0) == 0) {
            m["cpu"] = line.substr(line.find(':') + 2);
            break;
        }
    }
    m["fd_limit"] = fd_limit;
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    m["date"] = when;
    return m;
}

int run(const options& o) {
    const auto started = std::chrono::steady_clock::now();
    const rlim_t fd_limit = raise_fd_limit();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fs::create_directories(o.out);

    samples s;
    std::vector<scale_row> scales;
    {
        bench_env env(o.qos, o.inflight, o.bridge);
        progress("run directory " + env.dir().path().string());
        for (int r = 0; r < o.repeats; ++r) {
            run_repeat(env, o, r, s);
        }
        for (std::size_t i = 0; wanted(o, "scale") && i < o.scale.size(); ++i) {
            const std::size_t n = o.scale[i];
            // Each stream takes a connection in the bridge and in the mock server.
            if (static_cast<rlim_t>(n) + 256 > fd_limit) {
                std::cerr << "bench: scale " << n << " skipped: the open-file limit is " << fd_limit
                          << "\n";
                continue;
            }
            progress("scale, " + std::to_string(n) + " concurrent streams" +
                     (i + 1 == o.scale.size()
                          ? ", then idle for " + std::to_string(static_cast<int>(o.idle_s)) + " s"
                          : ""));
            scales.push_back(scale(env, n, o.scale_s, i + 1 == o.scale.size() ? o.idle_s : 0));
        }
    }

    report rep;
    rep.streams = o.streams;
    rep.machine = machine_info(fd_limit);
    rep.options = {{"repeats", o.repeats}, {"streams", o.streams}, {"scale", o.scale},
                   {"chunks", o.chunks},   {"pace_s", o.pace_s},   {"idle_s", o.idle_s},
                   {"smoke", o.smoke},     {"bridge", o.bridge},   {"qos", o.qos}};
    rep.median = [&](const std::string& k) { return s.median_of(k); };
    rep.samples = s.to_json();
    rep.scale = scales;
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    rep.write(o.out, std::cout);
    curl_global_cleanup();
    if (failures > 0) {
        std::cerr << "llm-mqtt-bench: " << failures
                  << " measurements did not complete (see above): their numbers are not valid\n";
        return 1;
    }
    return 0;
}

}  // namespace
}  // namespace llmb::bench

// --flood URL FIRST TOPICS PER_TOPIC RATE QOS: the publisher of a broker-alone measurement.
int flood_main(char** argv) {
    llmb::bench::mqtt_peer pub(argv[2], "bench-flood-" + std::string(argv[3]));
    llmb::bench::flood(pub, "llm", std::stoul(argv[3]), std::stoul(argv[4]), std::stoul(argv[5]),
                       std::stod(argv[6]), std::stoi(argv[7]));
    return pub.flush(std::chrono::seconds(60)) ? 0 : 1;
}

int main(int argc, char** argv) {
    try {
        if (argc == 8 && std::string(argv[1]) == "--flood") {
            return flood_main(argv);
        }
        const auto o = llmb::bench::parse_options(argc, argv);
        if (!o) {
            return 0;
        }
        return llmb::bench::run(*o);
    } catch (const std::invalid_argument& e) {
        std::cerr << "llm-mqtt-bench: " << e.what() << "\n" << llmb::bench::usage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "llm-mqtt-bench: " << e.what() << "\n";
        return 1;
    }
}
