// Broker restarts with streams in flight, the bridge on its DEFAULT flags (clean start, no
// persistent MQTT session): the bridge keeps every event until the broker acknowledged it and
// publishes it again after the reconnect, so a device with a persistent session on a broker
// that keeps its sessions (persistence on, SIGTERM) gets every event. Where the broker itself
// forgets the device (no persistence, or SIGKILL before it saved anything), what the bridge
// published before the device subscribed again never reaches it: the device asks for it again
// (resume, PROTOCOL.md) and so gets every event too.
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <vector>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t streams = 16;

std::string stream_id(std::size_t i) {
    return "r" + std::to_string(i);
}

// What arrived on one response topic, duplicates dropped by seq.
struct seen_stream {
    std::map<std::uint64_t, nlohmann::json> events;  // by seq
    std::size_t raw = 0;

    std::size_t terminals() const {
        std::size_t n = 0;
        for (const auto& [seq, ev] : events) {
            const auto type = ev.value("type", std::string());
            if (type == "done" || type == "error") {
                ++n;
            }
        }
        return n;
    }
    // Seqs below the terminal's that never arrived.
    std::size_t lost() const {
        return events.empty() ? 0 : events.rbegin()->first + 1 - events.size();
    }
};

std::map<std::string, seen_stream> tally(const test_client& c) {
    std::map<std::string, seen_stream> out;
    for (const auto& m : c.inbox()) {
        auto j = nlohmann::json::parse(m.payload, nullptr, false);
        if (!j.is_object()) {
            continue;
        }
        auto& s = out[m.topic.substr(m.topic.rfind('/') + 1)];
        ++s.raw;
        s.events.emplace(j.value("seq", std::uint64_t{0}), std::move(j));
    }
    return out;
}

std::size_t count_type(const test_client& c, std::string_view type) {
    std::size_t n = 0;
    for (const auto& m : c.inbox()) {
        if (m.payload.find("\"type\":\"" + std::string(type) + "\"") != std::string::npos) {
            ++n;
        }
    }
    return n;
}

// 16 streams of 3 s, the broker stopped with each of `signals` in turn and started again while
// they run.
// resume: the device asks for what it lacks once the answers are over (its broker forgot it).
// Returns the events lost over all streams; none may be lost, and the text must join.
std::size_t run_restarts(const std::vector<int>& signals, bool persistence, bool resume) {
    test_dir dir;
    broker_options bo;
    bo.persistence = persistence;
    // mosquitto keeps at most 1000 messages for a client that is away (the device, for a
    // moment at every restart); more are in flight here.
    bo.max_queued_messages = 100000;
    broker mqtt(dir, bo);
    mock_llm llm(dir);
    bridge br(dir, mqtt, llm.url());  // default flags: what this suite is about
    // The device: a persistent session, reconnecting by itself, and subscribing again where
    // the broker lost its session.
    test_client c(mqtt.url(), "llm", client_options{true, "restarts-device", 300, true, resume});
    c.subscribe_client("dev");

    // 150 pieces 20 ms apart: 3 s each; the default 4 slots run them in 4 waves, 12 s in all,
    // and the restarts fall into the first waves.
    const std::string text = numbered_text(600);
    for (std::size_t i = 0; i < streams; ++i) {
        c.publish_request("dev", echo_request(stream_id(i), text, "piece=4 delay_ms=20"));
    }
    const auto restarts = signals.size();
    for (std::size_t r = 0; r < restarts; ++r) {
        // Restart once chunks are seen arriving again.
        const std::size_t before = count_type(c, "chunk");
        const auto deadline = clock_type::now() + 20s;
        while (count_type(c, "chunk") < before + 20 && clock_type::now() < deadline) {
            c.pump(clock_type::now() + 100ms);
            c.drain();  // count once per batch, not once per message
        }
        REQUIRE_MESSAGE(count_type(c, "chunk") >= before + 20,
                        "no chunks arrived before restart " << r + 1);
        // The restart falls into the answers: the mock server has streams still to finish
        // (how many the device has seen end depends on the machine's speed and is not asked).
        REQUIRE_MESSAGE(llm.stats().value("streams_completed", streams) < streams,
                        "every stream ended before restart " << r + 1);
        if (signals[r] == SIGKILL) {
            mqtt.kill();
        } else {
            mqtt.stop();
        }
        mqtt.start();
    }
    // Barrier: the mock server has ended every stream, so the bridge has published all.
    REQUIRE(llm.wait_stat("streams_completed", streams, 60s));
    std::size_t resumed = 0;
    if (resume) {
        // What a device does once it is subscribed again after its broker forgot it: for each
        // stream, resume from the first seq it lacks. Events still on their way arrive twice
        // and are dropped by seq.
        const auto seen = tally(c);
        for (std::size_t i = 0; i < streams; ++i) {
            const auto it = seen.find(stream_id(i));
            std::uint64_t from = 0;
            if (it != seen.end()) {
                const auto& events = it->second.events;
                while (events.count(from) != 0) {
                    ++from;
                }
                if (it->second.terminals() != 0 && it->second.lost() == 0) {
                    continue;  // whole already
                }
            }
            c.publish("llm/resume/dev",
                      nlohmann::json{{"id", stream_id(i)}, {"from_seq", from}}.dump());
            ++resumed;
        }
    }
    {
        // Every terminal arrives.
        const auto deadline = clock_type::now() + 20s;
        auto ended = [&] {
            std::size_t n = 0;
            for (const auto& [id, s] : tally(c)) {
                if (s.terminals() != 0) {
                    ++n;
                }
            }
            return n;
        };
        while (ended() < streams && clock_type::now() < deadline) {
            c.pump(clock_type::now() + 200ms);
            c.drain();
        }
    }
    check_serving(c, "dev", "after-restarts");  // also a barrier: late events have arrived
    const auto seen = tally(c);
    std::size_t lost = 0;  // gaps below the highest seq seen
    std::size_t no_terminal = 0;
    std::size_t raw = 0;
    for (std::size_t i = 0; i < streams; ++i) {
        const auto id = stream_id(i);
        CAPTURE(id);
        const auto it = seen.find(id);
        if (it == seen.end()) {
            FAIL_CHECK("no event of the stream arrived");
            ++no_terminal;
            continue;
        }
        const auto& s = it->second;
        CHECK(s.terminals() <= 1);
        if (s.terminals() == 0) {
            ++no_terminal;
        } else {
            CHECK(s.events.rbegin()->second.value("type", std::string()) == "done");
        }
        lost += s.lost();
        raw += s.raw;
        CHECK(s.terminals() == 1);
        CHECK(s.lost() == 0);
        std::string joined;
        for (const auto& [seq, ev] : s.events) {
            if (ev.value("type", std::string()) == "chunk") {
                joined += ev.value("text", std::string());
            }
        }
        CHECK(joined == text);
    }
    std::size_t events = 0;
    for (const auto& [id, s] : seen) {
        events += s.events.size();
    }
    MESSAGE("signals " << signals[0] << "," << signals[1] << "," << signals[2]
                       << ", broker persistence " << std::string(persistence ? "on" : "off") << ": "
                       << restarts << " restarts, " << lost << " events lost in gaps, "
                       << no_terminal << " streams whose terminal the device missed, " << resumed
                       << " streams resumed, " << raw - std::min(raw, events)
                       << " duplicates dropped by seq");
    CHECK(mqtt.starts() == 1 + restarts);
    CHECK(br.proc().running());
    return lost + no_terminal;
}

TEST_SUITE("defaults.restarts") {
    TEST_CASE("SIGTERM restarts of a persistent broker lose no event") {
        CHECK(run_restarts({SIGTERM, SIGTERM, SIGTERM}, true, false) == 0);
    }

    // Without persistence (and after a SIGKILL before mosquitto saved anything, which it does on
    // exit and every 30 min) the broker forgets the device's session: what the bridge publishes
    // before the device has subscribed again is not delivered (see PROTOCOL.md, broker restarts).
    // The device resumes, and with the replay nothing is lost.
    TEST_CASE("SIGTERM and SIGKILL restarts of a broker without persistence, with resume") {
        CHECK(run_restarts({SIGTERM, SIGKILL, SIGTERM}, false, true) == 0);
    }
}

}  // namespace
}  // namespace llmb::itest
