// Faults of the MQTT side: broker restarts with streams in flight, a broker that is down when
// the bridge starts, a bridge killed with SIGKILL and started again (big answers and stuck
// readers are in test_bounds.cpp). Every accepted request ends with exactly one terminal event, no
// chunk is lost (after de-duplication by seq), nothing crashes and the bridge's memory stays
// bounded.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <set>

#include <mqtt/async_client.h>

#include "ack_relay.hpp"
#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// After de-duplication by seq the stream is complete: one terminal, the last one, no seq
// missing, no violation, done's chunks/bytes agree, and the chunks join to text exactly.
// Unlike check_done it allows the raw messages to repeat a seq (QoS 1 redelivery).
void check_done_dedup(const response_stream& s, const std::string& text) {
    INFO(s.summary());
    REQUIRE_MESSAGE(s.finished(), "no terminal event arrived");
    CHECK(s.assembler.violations().empty());
    CHECK(s.assembler.missing() == 0);
    CHECK(s.terminals() == 1);
    CHECK(s.count("start") == 1);
    const auto& done = s.last();
    REQUIRE(done.value("type", std::string()) == "done");
    CHECK(done.value("finish_reason", std::string()) == "stop");
    CHECK(s.text() == text);
    CHECK(done.value("chunks", std::uint64_t{0}) == s.count("chunk"));
    CHECK(done.value("bytes", std::uint64_t{0}) == text.size());
    std::set<std::uint64_t> seqs;
    for (const auto& m : s.messages) {
        auto j = nlohmann::json::parse(m.payload, nullptr, false);
        REQUIRE(j.is_object());
        seqs.insert(j.value("seq", std::uint64_t{0}));
    }
    CHECK(seqs.size() == s.events.size());
    CHECK(*seqs.rbegin() + 1 == seqs.size());
}

// Streams {prefix}0.. of client "dev", each checked by check_done_dedup: the repeats dropped.
std::size_t check_streams_dedup(test_client& c, const std::string& prefix, std::size_t streams,
                                const std::string& text) {
    std::size_t duplicates = 0;
    for (std::size_t i = 0; i < streams; ++i) {
        const std::string id = prefix + std::to_string(i);
        CAPTURE(id);
        auto s = c.collect("dev", id, 60s);
        check_done_dedup(s, text);
        duplicates += s.assembler.duplicates();
    }
    return duplicates;
}

std::size_t count_type(const test_client& c, std::string_view type) {
    std::size_t n = 0;
    for (const auto& m : c.inbox()) {
        auto j = nlohmann::json::parse(m.payload, nullptr, false);
        if (j.is_object() && j.value("type", std::string()) == type) {
            ++n;
        }
    }
    return n;
}

// Six TCP resets of the bridge's connection (through a relay) while four streams publish fast:
// every stream still ends in one done with all its text, and the bridge serves afterwards.
// args: the bridge's options besides --mqtt.
void check_resets(std::vector<std::string> args) {
    test_dir dir;
    broker mqtt(dir);
    mock_llm llm(dir);
    ack_relay relay(mqtt.port());
    bridge_options opts;
    opts.mqtt_flag = false;  // the bridge goes through the relay, its status client does not
    opts.args = {"--mqtt", relay.url()};
    opts.args.insert(opts.args.end(), args.begin(), args.end());
    bridge br(dir, mqtt, llm.url(), opts);
    test_client c(mqtt.url());
    c.subscribe_client("dev");

    // 15,000 pieces 1 ms apart per stream, 4 streams: the library's send thread is busy writing
    // when a reset comes, often enough to meet the write that fails; and the streams outlast
    // the resets (a reconnect takes Paho about a second).
    const std::size_t streams = 4;
    const std::string text = numbered_text(60000);
    for (std::size_t i = 0; i < streams; ++i) {
        c.publish_request("dev", echo_request("x" + std::to_string(i), text, "piece=4 delay_ms=1"));
    }
    const std::size_t resets = 6;
    for (std::size_t r = 0; r < resets; ++r) {
        // Each reset once the bridge publishes again (through its next connection).
        const std::size_t seen = relay.publishes();
        REQUIRE_MESSAGE(wait_until([&] { return relay.publishes() >= seen + 200; }, 20s),
                        "the bridge published no 200 events before reset " << r + 1);
        relay.reset();
    }
    const std::size_t duplicates = check_streams_dedup(c, "x", streams, text);
    MESSAGE("resets survived: " << resets << ", connections: " << relay.connections()
                                << ", duplicates dropped by seq: " << duplicates);
    CHECK(relay.connections() >= 1 + resets);
    CHECK(br.proc().running());
    check_serving(c, "dev", "after-resets");
}

TEST_SUITE("resilience") {
    TEST_CASE("three broker restarts with streams in flight lose no chunk") {
        test_dir dir;
        broker_options bo;
        bo.persistence = true;  // a broker that keeps sessions is what the test is about
        // mosquitto's default of 1000 queued messages per client drops what a subscriber that
        // is reconnecting misses during a restart: an operator who wants no loss raises it.
        bo.max_queued_messages = 100000;
        broker mqtt(dir, bo);
        mock_llm llm(dir);
        bridge_options opts;
        // A persistent bridge session: the broker resumes it, and the MQTT library sends the
        // unacknowledged events again (defaults.restarts covers the default clean start).
        opts.args = {"--client-id", "resilience-bridge", "--session-expiry-s", "300"};
        bridge br(dir, mqtt, llm.url(), opts);
        test_client c(mqtt.url(), "llm", client_options{true, "resilience-sub", 300, true, false});
        c.subscribe_client("dev");

        const std::size_t streams = 4;
        const std::string text = numbered_text(2000);  // 500 pieces, 20 ms apart: 10 s each
        for (std::size_t i = 0; i < streams; ++i) {
            c.publish_request("dev",
                              echo_request("r" + std::to_string(i), text, "piece=4 delay_ms=20"));
        }
        const int restarts = 3;
        for (int r = 0; r < restarts; ++r) {
            // Restart once chunks are seen arriving again (from the bridge's resumed session).
            const std::size_t before = count_type(c, "chunk");
            const auto deadline = clock_type::now() + 20s;
            while (count_type(c, "chunk") < before + 10 && clock_type::now() < deadline) {
                c.pump(clock_type::now() + 100ms);
            }
            REQUIRE_MESSAGE(count_type(c, "chunk") >= before + 10,
                            "no chunks arrived before restart " << r + 1);
            REQUIRE_MESSAGE(count_type(c, "done") < streams,
                            "every stream ended before restart " << r + 1);
            MESSAGE("restart " << r + 1 << " after " << count_type(c, "chunk") << " chunks");
            mqtt.restart();
        }
        const std::size_t duplicates = check_streams_dedup(c, "r", streams, text);
        MESSAGE("broker restarts survived: " << restarts
                                             << ", duplicates dropped by seq: " << duplicates);
        CHECK(mqtt.starts() == 1 + restarts);
        CHECK(br.proc().running());
        check_serving(c, "dev", "after-restarts");
    }

    TEST_CASE("connection resets while the bridge publishes fast: no chunk lost") {
        check_resets({});  // default settings: a clean start on every connection
    }

    TEST_CASE(
        "connection resets while the bridge publishes fast, persistent session: no chunk lost") {
        // A persistent session, resumed by the broker after every reset: the path on which the
        // MQTT library sent again a publish whose write had failed as the connection broke,
        // from memory it had freed (see mqtt_link::make_client).
        check_resets({"--client-id", "reset-bridge", "--session-expiry-s", "300"});
    }

    TEST_CASE("a bridge started before the broker waits, then connects and serves") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        mqtt.stop();
        process br("llm-mqtt-bridge", {bridge_path(), "--mqtt", mqtt.url(), "--llm", llm.url()},
                   dir.path());
        // It keeps trying (with back-off) instead of giving up.
        REQUIRE(br.wait_stderr("cannot connect", 10s));
        const auto first = br.stderr_size();
        REQUIRE(br.wait_stderr("cannot connect", 10s, first));
        CHECK(br.running());

        mqtt.start();
        test_client c(mqtt.url());
        c.subscribe("llm/status");
        auto online = c.wait_for(
            "llm/status",
            [](const received& m) { return m.payload.find("\"online\"") != std::string::npos; },
            15s);
        REQUIRE_MESSAGE(online.has_value(), "the bridge announced no online status");
        c.subscribe_client("late");
        check_serving(c, "late", "first");
        CHECK(br.terminate() == 0);
    }

    TEST_CASE("a bridge killed with SIGKILL keeps its MQTT session and its sessions") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        const auto state = dir.path() / "state";
        bridge_options opts;
        opts.config = dir.file("bridge.yaml");
        write_file(opts.config, "sessions:\n  state_dir: " + state.string() + "\n");
        // A persistent bridge session: the broker keeps the requests published while it is down.
        opts.args = {"--client-id", "resilience-killed", "--session-expiry-s", "300"};
        test_client c(mqtt.url());
        c.subscribe_client("dev");

        bridge first(dir, mqtt, llm.url(), opts);
        c.publish_request(
            "dev",
            {{"id", "t1"}, {"session", "s1"}, {"prompt", mock_prompt("echo", "first turn")}});
        auto t1 = c.collect("dev", "t1", 10s);
        check_done(t1, "first turn");
        // The session file is written by a thread of its own right after done; what a kill
        // interrupts before that is the last turn, lost (README, "Sessions"). This test is
        // about a kill after it: wait until the file holds the turn.
        const auto s1_file = state / "sessions" / "llm" / "dev" / "s1.json";
        REQUIRE(wait_until(
            [&] { return read_file(s1_file).find("first turn") != std::string::npos; }, 10s));
        // A stream in flight at the kill.
        c.publish_request("dev", echo_request("mid", numbered_text(400), "piece=4 delay_ms=20"));
        REQUIRE(c.wait_first_chunk("dev", "mid", 10s));
        first.proc().send_signal(SIGKILL);
        REQUIRE(first.proc().wait_exit(5s).has_value());

        // Published while no bridge is connected: the broker keeps them in its session.
        c.publish_request(
            "dev",
            {{"id", "t2"}, {"session", "s1"}, {"prompt", mock_prompt("echo_all", "second turn")}});
        c.publish_request("dev", echo_request("queued", "asked while the bridge was down"));

        opts.log_name = "llm-mqtt-bridge-restarted";
        bridge second(dir, mqtt, llm.url(), opts);
        auto t2 = c.collect("dev", "t2", 15s);
        check_done(t2, "user:first turn|assistant:first turn|user:second turn");
        auto q = c.collect("dev", "queued", 15s);
        check_done(q, "asked while the bridge was down");
        check_serving(c, "dev", "after-kill");
    }
}

}  // namespace
}  // namespace llmb::itest
