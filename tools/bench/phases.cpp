#include "phases.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "ceiling.hpp"
#include "per_request.hpp"
#include "sse_reader.hpp"

namespace llmb::bench {
namespace {

// A paced load over n streams: a delta every pace microseconds per stream, tokens per stream
// (o.pace_s seconds of them), per_s deltas per second offered in all.
struct paced {
    std::int64_t pace;
    std::size_t tokens;
    double per_s;
};

paced paced_of(const load& l, std::size_t n, const options& o) {
    const std::int64_t pace = pace_us(l, n);
    return {pace,
            std::max<std::size_t>(
                5, static_cast<std::size_t>(o.pace_s * 1e6 / static_cast<double>(pace))),
            static_cast<double>(n) * 1e6 / static_cast<double>(pace)};
}

using namespace std::chrono_literals;
namespace fs = std::filesystem;

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
    const paced p = paced_of(light, n, o);
    const fs::path state = env.dir().path() / ("state-" + std::to_string(repeat));
    bridge_setup setup;
    setup.state_dir = state.string();
    auto br = env.start_bridge(setup);
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
    const measured m = relay(env, *br, n, p.tokens, p.pace, 0, 120s);
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
        env.fail();
        std::cerr << "bench: session turns: " << files << " session files, expected " << sessions
                  << "\n";
    }
    const recorder add{s, "sessions", n};
    record_latency(add, m.latency);
    add("turns_per_s", static_cast<double>(turns) / seconds);
    m.cpu.record(add, m.a.chunks, true);
}

// The relay's numbers per token (an SSE delta of the mock server) and per MQTT message (a
// PUBLISH of the bridge: response events and raw text), with the chunk metrics beside them.
void record_relay(const recorder& add, const measured& r) {
    record_chunks(add, r.a);
    r.cpu.record(add, r.a.chunks, true);
    record_latency(add, r.latency);
    const double span_s = static_cast<double>(r.a.last_chunk_ns - r.a.first_chunk_ns) / 1e9;
    const auto publishes = static_cast<double>(r.a.messages);
    const auto tokens = static_cast<double>(r.a.stamps);
    add("tokens_per_s", r.a.stamps_per_s());
    add("publishes_per_s", span_s > 0 ? publishes / span_s : 0);
    add("publishes_per_token", tokens > 0 ? publishes / tokens : 0);
    const auto bridge_us = static_cast<double>(r.cpu.bridge) / 1e3;
    add("cpu_us_per_token", tokens > 0 ? bridge_us / tokens : 0);
    add("cpu_us_per_publish", publishes > 0 ? bridge_us / publishes : 0);
}

// n paced streams through the bridge: their latency, the load offered and the bridge's CPU.
void record_paced(bench_env& env, itest::bridge& br, std::size_t n, const paced& p,
                  const recorder& add) {
    const measured m = relay(env, br, n, p.tokens, p.pace, 0, 120s);
    record_latency(add, m.latency);
    add("offered_per_s", p.per_s);
    m.cpu.record(add, m.a.chunks, true);
}

}  // namespace

void run_repeat(bench_env& env, const options& o, int repeat, samples& s) {
    const std::string tag =
        "[" + std::to_string(repeat + 1) + "/" + std::to_string(o.repeats) + "] ";
    std::size_t chunk_bytes = 70;  // of the broker-alone chunks, once measured
    for (std::size_t n : o.streams) {
        const std::size_t per = std::max<std::size_t>(1, o.chunks / n);
        if (o.wanted("ceilings")) {
            progress(tag + "broker alone, " + std::to_string(n) + " topics");
            const measured b = broker_alone(env, n, per, 0);
            record_chunks({s, "broker", n}, b.a);
            b.cpu.record({s, "broker", n}, b.a.chunks, true);

            progress(tag + "mock server alone, " + std::to_string(n) + " streams");
            const auto cpu0 = cpu_times::now(env, -1);
            const sse_result m = read_streams(env.llm().url(), n, per, 0, 120s);
            if (m.failed > 0) {
                env.fail();
                std::cerr << "bench: mock server alone: " << m.failed << " of " << n
                          << " streams failed\n";
            }
            s.add(key_of("mock", n, "deltas_per_s"), m.deltas_per_s());
            cpu_times::now(env, -1).since(cpu0).record({s, "mock", n}, m.deltas, false);
            chunk_bytes = b.a.chunks ? b.a.bytes / b.a.chunks : chunk_bytes;
        }
    }
    if (o.wanted("ceilings")) {
        progress(tag + "mosquitto_pub to mosquitto_sub, " + std::to_string(o.chunks) +
                 " messages of " + std::to_string(chunk_bytes) + " bytes");
        const mosquitto_ceiling c = run_mosquitto_ceiling(env, o.chunks, chunk_bytes, env.qos());
        const recorder add{s, "mosquitto", 1};
        add("msgs_per_s", c.msgs_per_s);
        add("pub_cpu_us_per_msg", c.pub_cpu_us_per_msg);
        add("sub_cpu_us_per_msg", c.sub_cpu_us_per_msg);
        add("broker_cpu_us_per_msg", c.broker_cpu_us_per_msg);
    }

    if (o.wanted("sessions")) {
        sessions_phase(env, o, tag, repeat, s);
    }

    if (!o.wanted("relay") && !o.wanted("latency") && !o.wanted("coalescing") &&
        !o.wanted("per_request")) {
        return;
    }
    auto br = env.start_bridge();
    if (o.wanted("per_request")) {
        per_request(env, *br, o.requests, tag, s);
    }
    for (std::size_t n : o.streams) {
        if (o.wanted("relay")) {
            const std::size_t per = std::max<std::size_t>(1, o.chunks / n);
            progress(tag + "relay at full speed, " + std::to_string(n) + " streams");
            record_relay({s, "relay", n}, relay(env, *br, n, per, 0, 0, 300s));
        }
        for (const load& l : {light, heavy}) {
            if (!o.wanted("latency")) {
                break;
            }
            const paced p = paced_of(l, n, o);
            progress(tag + "latency, " + std::to_string(n) + " streams, a delta every " +
                     std::to_string(p.pace / 1000) + " ms");
            record_paced(env, *br, n, p, {s, l.name, n});

            progress(tag + "latency of the mock server alone, " + std::to_string(n) + " streams");
            sse_result alone = read_streams(env.llm().url(), n, p.tokens, p.pace, 120s);
            record_latency({s, std::string("mock_") + l.name, n}, summarize(alone.latencies));

            progress(tag + "latency of the broker alone, " + std::to_string(n) + " topics");
            const measured b = broker_alone(env, n, p.tokens, p.per_s);
            record_latency({s, std::string("broker_") + l.name, n}, b.latency);
        }
    }

    if (o.wanted("coalescing")) {
        const std::size_t cn = o.smoke ? 10 : 100;
        const paced p = paced_of(heavy, cn, o);
        for (int flush : {0, 20, 100}) {
            progress(tag + "coalescing, " + std::to_string(cn) + " streams, flush_ms " +
                     std::to_string(flush));
            const measured c = relay(env, *br, cn, p.tokens, p.pace, flush, 120s);
            const recorder add{s, "flush", static_cast<std::size_t>(flush)};
            add("messages_per_s", c.a.chunks_per_s());
            add("deltas_per_s", c.a.stamps_per_s());
            record_latency(add, c.latency);
        }
    }

    // The extra rows: the relay without the raw text mirror, as `text_topic: false` runs it,
    // at full speed and at the heavy paced load (what the mirror's PUBLISHes cost in latency).
    if (o.wanted("relay") || o.wanted("latency")) {
        br.reset();
        bridge_setup no_text;
        no_text.text_mirror = false;
        br = env.start_bridge(no_text);
        for (std::size_t n : o.streams) {
            if (o.wanted("relay")) {
                const std::size_t per = std::max<std::size_t>(1, o.chunks / n);
                progress(tag + "relay at full speed, text mirror off, " + std::to_string(n) +
                         " streams");
                record_relay({s, "relay_notext", n}, relay(env, *br, n, per, 0, 0, 300s));
            }
            if (o.wanted("latency")) {
                const paced p = paced_of(heavy, n, o);
                progress(tag + "latency, text mirror off, " + std::to_string(n) +
                         " streams, a delta every " + std::to_string(p.pace / 1000) + " ms");
                record_paced(env, *br, n, p, {s, "latency_notext", n});
            }
        }
    }
}

namespace {

std::size_t rss_kb(pid_t pid) {
    return itest::proc_status_kb(pid, "VmRSS").value_or(0);
}

}  // namespace

scale_row scale(bench_env& env, std::size_t n, double stream_s, double idle_s) {
    scale_row r;
    r.streams = n;
    auto br = env.start_bridge();
    const pid_t pid = br->proc().pid();
    r.rss_idle_kb = static_cast<double>(rss_kb(pid));
    const std::size_t first = env.next_ids(n);
    env.sub().subscribe({response_filter}, first, n);
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
    env.sub().unsubscribe_all();
    const arrivals end = env.sub().counts();
    r.errors = end.errors;
    if (!r.all_done || end.errors > 0) {
        env.fail();
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

}  // namespace llmb::bench
