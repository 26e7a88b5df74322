// Faults of the MQTT side and of the answer: broker restarts with streams in flight, a broker
// that is down when the bridge starts, a 100 MB answer, a bridge killed with SIGKILL and
// started again. Every accepted request ends with exactly one terminal event, no chunk is lost
// (after de-duplication by seq), nothing crashes and the bridge's memory stays bounded.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <set>

#include <mqtt/async_client.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// A field of /proc/PID/status in kB (VmRSS, VmHWM); 0 when it cannot be read.
std::size_t proc_status_kb(pid_t pid, std::string_view field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field, 0) == 0 && line.size() > field.size() && line[field.size()] == ':') {
            return std::stoul(line.substr(field.size() + 1));
        }
    }
    return 0;
}

// A text of n ASCII bytes that is not periodic in a way that would hide a lost piece.
std::string numbered_text(std::size_t n) {
    std::string t;
    for (std::size_t i = 0; t.size() < n; ++i) {
        t += std::to_string(i) + ",";
    }
    t.resize(n);
    return t;
}

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

// A subscriber that never reads: a raw MQTT 3.1.1 CONNECT and SUBSCRIBE (QoS 1) to filter, with
// a small receive buffer, then silence. Closes the socket on destruction.
class stuck_subscriber {
public:
    stuck_subscriber(std::uint16_t port, const std::string& filter) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        int small = 4096;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        const std::string id = "stuck";
        std::string connect{
            '\x10', static_cast<char>(12 + id.size()), 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60,
            0,      static_cast<char>(id.size())};
        connect += id;
        std::string sub{'\x82', static_cast<char>(5 + filter.size()), 0, 1,
                        0,      static_cast<char>(filter.size())};
        sub += filter;
        sub += '\x01';
        const std::string both = connect + sub;
        REQUIRE(::write(fd_, both.data(), both.size()) == static_cast<ssize_t>(both.size()));
    }
    ~stuck_subscriber() { ::close(fd_); }
    stuck_subscriber(const stuck_subscriber&) = delete;
    stuck_subscriber& operator=(const stuck_subscriber&) = delete;

private:
    int fd_ = -1;
};

TEST_SUITE("resilience") {
    TEST_CASE("three broker restarts with streams in flight lose no chunk") {
        test_dir dir;
        broker_options bo;
        bo.persistence = true;
        // mosquitto's default of 1000 queued messages per client drops what a subscriber that
        // is reconnecting misses during a restart: an operator who wants no loss raises it.
        bo.max_queued_messages = 100000;
        broker mqtt(dir, bo);
        mock_llm llm(dir);
        bridge_options opts;
        opts.args = {"--client-id", "resilience-bridge", "--session-expiry-s", "300"};
        bridge br(dir, mqtt, llm.url(), opts);
        test_client c(mqtt.url(), "llm", client_options{true, "resilience-sub", 300, true});
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
        std::size_t duplicates = 0;
        for (std::size_t i = 0; i < streams; ++i) {
            const std::string id = "r" + std::to_string(i);
            CAPTURE(id);
            auto s = c.collect("dev", id, 60s);
            check_done_dedup(s, text);
            duplicates += s.assembler.duplicates();
        }
        MESSAGE("broker restarts survived: " << restarts
                                             << ", duplicates dropped by seq: " << duplicates);
        CHECK(mqtt.starts() == 1 + restarts);
        CHECK(br.proc().running());
        check_serving(c, "dev", "after-restarts");
    }

    TEST_CASE("a bridge started before the broker waits, then connects and serves") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        mqtt.stop();
        process br(
            "llm-mqtt-bridge",
            {bridge_path(), "--log-level", "debug", "--mqtt", mqtt.url(), "--llm", llm.url()},
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

    TEST_CASE("a 100 MB answer ends with done while the bridge's memory stays bounded") {
        stack_options so;
        so.bridge.args = {"--no-text-topic"};
        stack st(so);
        const pid_t pid = st.br.proc().pid();
        const std::size_t rss_before = proc_status_kb(pid, "VmRSS");

        // A raw client that keeps no messages: only the assembler's text grows here.
        mqtt::async_client cli(st.mqtt.url(), "resilience-huge",
                               mqtt::create_options(MQTTVERSION_5, 100), nullptr);
        cli.start_consuming();
        mqtt::connect_options co;
        co.set_mqtt_version(MQTTVERSION_5);
        co.set_clean_start(true);
        REQUIRE(cli.connect(co)->wait_for(10s));
        REQUIRE(cli.subscribe("llm/response/big/#", 1)->wait_for(10s));
        test_client pub(st.mqtt.url());
        const std::size_t tokens = 1600;  // 1600 x 64 KiB = 100 MiB
        pub.publish_request("big",
                            mock_request("huge", "fault=huge tokens=" + std::to_string(tokens)));

        protocol::response_assembler a;
        std::vector<nlohmann::json> events;
        std::string last_type;
        std::size_t peak_rss = 0;
        const auto deadline = clock_type::now() + 90s;
        while (!a.finished() && clock_type::now() < deadline) {
            mqtt::const_message_ptr msg;
            if (cli.try_consume_message_for(&msg, 200ms) && msg) {
                events.clear();
                a.feed(msg->get_payload_str(), events);
                if (!events.empty()) {
                    last_type = events.back().value("type", std::string());
                    if (last_type == "done" || last_type == "error") {
                        last_type = events.back().dump();
                    }
                }
            }
            peak_rss = std::max(peak_rss, proc_status_kb(pid, "VmRSS"));
        }
        const std::size_t hwm = proc_status_kb(pid, "VmHWM");
        const std::size_t rss_after = proc_status_kb(pid, "VmRSS");
        MESSAGE("bridge RSS kB: before " << rss_before << ", peak sampled " << peak_rss
                                         << ", VmHWM " << hwm << ", after " << rss_after);
        REQUIRE_MESSAGE(a.finished(), "no terminal after " << a.chunks() << " chunks");
        INFO(last_type);
        CHECK(a.violations().empty());
        CHECK(a.missing() == 0);
        CHECK(a.text().size() == tokens * 65536);
        CHECK(a.text().find_first_not_of('x') == std::string::npos);
        CHECK(last_type.find("\"type\":\"done\"") != std::string::npos);
        // Generous: nothing caps the bridge's outbound queue, which holds what the broker has
        // not taken yet (tens of MB here); a bridge that also kept the answer would exceed it.
        CHECK(hwm < 200 * 1024);
        CHECK(st.br.proc().running());
        cli.disconnect()->wait_for(5s);
        test_client c(st.mqtt.url());
        c.subscribe_client("big");
        check_serving(c, "big", "after-huge");
    }

    TEST_CASE("a subscriber that stops reading does not stall the bridge") {
        stack_options so;
        so.broker.max_queued_messages = 10;
        so.broker.max_inflight_messages = 2;
        stack st(so);
        stuck_subscriber stuck(st.mqtt.port(), "llm/#");
        test_client c(st.mqtt.url());
        c.subscribe_client("other");
        // Proof that the broker has taken the stuck subscription: its SUBACK came before this.
        check_serving(c, "other", "before");
        const pid_t pid = st.br.proc().pid();
        const std::size_t mark = st.br.proc().stderr_size();
        c.publish_request("slow", mock_request("s1", "fault=huge tokens=320"));  // 20 MiB
        check_serving(c, "other", "during");
        REQUIRE_MESSAGE(st.br.proc().wait_stderr("[s1] client=slow model=", 60s, mark),
                        "the stream to the stuck subscriber did not end");
        const auto log = st.br.proc().stderr_text().substr(mark);
        CHECK(log.find("outcome=done") != std::string::npos);
        const std::size_t hwm = proc_status_kb(pid, "VmHWM");
        MESSAGE("bridge VmHWM with a stuck subscriber: " << hwm << " kB");
        CHECK(hwm < 200 * 1024);
        check_serving(c, "other", "after");
        CHECK(st.br.proc().running());
    }

    TEST_CASE("a bridge killed with SIGKILL keeps its MQTT session and its sessions") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        const auto state = dir.path() / "state";
        bridge_options opts;
        opts.config = dir.file("bridge.yaml");
        write_file(opts.config, "sessions:\n  state_dir: " + state.string() + "\n");
        opts.args = {"--client-id", "resilience-killed", "--session-expiry-s", "300"};
        test_client c(mqtt.url());
        c.subscribe_client("dev");

        bridge first(dir, mqtt, llm.url(), opts);
        c.publish_request(
            "dev",
            {{"id", "t1"}, {"session", "s1"}, {"prompt", mock_prompt("echo", "first turn")}});
        auto t1 = c.collect("dev", "t1", 10s);
        check_done(t1, "first turn");
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
