// Brokers that speak only MQTT 3.1.1, played by a stand-in that refuses every MQTT 5 CONNECT
// (a silent close, or CONNACK 0x01) and relays 3.1.1 to a real mosquitto: with default settings
// the bridge and llm-mqtt fall back to 3.1.1, say so once, and work; an explicit MQTT 5 stays.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "checks.hpp"
#include "v311_broker.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

const char* const fallback_line = "falling back to MQTT 3.1.1";

const char* mode_name(v5_refusal mode) {
    return mode == v5_refusal::silent_close ? "silent close" : "CONNACK 0x01";
}

std::size_t occurrences(const std::string& text, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

// A bridge with default settings behind the stand-in goes online, streams through it to a 3.1.1
// device, and logs the fallback exactly once.
void check_bridge_falls_back(v5_refusal mode) {
    CAPTURE(mode_name(mode));
    test_dir dir;
    broker mqtt(dir);
    mock_llm llm(dir);
    v311_broker standin(mqtt.port(), mode);
    bridge_options o;
    o.mqtt_flag =
        false;  // the status client listens on mosquitto; the bridge goes through the stand-in
    o.args = {"--mqtt", standin.url()};
    bridge br(dir, mqtt, llm.url(), o);
    const std::string log = br.proc().stderr_text();
    INFO(log);
    CHECK(occurrences(log, fallback_line) == 1);
    CHECK(log.find("connected to " + standin.url() + " (MQTT 3.1.1") != std::string::npos);
    CHECK(standin.refused() == (mode == v5_refusal::silent_close ? 2U : 1U));

    test_client device(standin.url(), "llm", false);  // a 3.1.1 device through the stand-in
    check_serving(device, "dev311", "q1");
    CHECK(occurrences(br.proc().stderr_text(), fallback_line) == 1);
}

std::vector<std::string> ask(const std::string& url, const std::string& client,
                             const std::string& q) {
    return {cli_path(), "ask", "-b", url, "-c", client, "--timeout", "20", q};
}

TEST_SUITE("mqtt311") {
    TEST_CASE("default settings: a broker that closes MQTT 5 connections silently") {
        check_bridge_falls_back(v5_refusal::silent_close);
    }

    TEST_CASE("default settings: a broker that answers MQTT 5 with CONNACK 0x01") {
        check_bridge_falls_back(v5_refusal::connack_0x01);
    }

    TEST_CASE("--mqtt-version 5 keeps to MQTT 5 and says the broker may not speak it") {
        for (const auto mode : {v5_refusal::silent_close, v5_refusal::connack_0x01}) {
            CAPTURE(mode_name(mode));
            test_dir dir;
            broker mqtt(dir);
            mock_llm llm(dir);
            v311_broker standin(mqtt.port(), mode);
            process br(
                "llm-mqtt-bridge",
                {bridge_path(), "--log-level", "debug", "--mqtt", standin.url(), "--llm", llm.url(),
                 // the setting under test: MQTT 5 only
                 "--mqtt-version", "5"},
                dir.path());
            const std::string_view why = "the broker may not speak MQTT 5";
            REQUIRE(br.wait_stderr(why, 10s));
            // Three refused attempts: more than the fallback would have waited for.
            REQUIRE(wait_until([&] { return occurrences(br.stderr_text(), why) >= 3; }, 10s));
            const std::string log = br.stderr_text();
            INFO(log);
            CHECK(log.find(fallback_line) == std::string::npos);
            CHECK(log.find("connected to") == std::string::npos);
            CHECK(standin.relayed() == 0);
            CHECK(standin.refused() >= 3);
        }
    }

    TEST_CASE("llm-mqtt falls back to 3.1.1 by default and keeps to 5 when asked") {
        stack st;
        for (const auto mode : {v5_refusal::silent_close, v5_refusal::connack_0x01}) {
            CAPTURE(mode_name(mode));
            v311_broker standin(st.mqtt.port(), mode);
            const std::string text = "answered over MQTT 3.1.1";
            process cli("llm-mqtt-311", ask(standin.url(), "cli311", mock_prompt("echo", text)),
                        st.dir.path());
            auto code = cli.wait_exit(30s);
            REQUIRE_MESSAGE(code.has_value(), "llm-mqtt ask did not exit within 30 s");
            INFO("stderr: " << cli.stderr_text());
            CHECK(*code == 0);
            const std::string out = cli.stdout_text();
            CHECK((out == text || out == text + "\n"));
            CHECK(occurrences(cli.stderr_text(), "refused MQTT 5: using MQTT 3.1.1") == 1);

            auto argv = ask(standin.url(), "cli5", mock_prompt("echo", text));
            argv.insert(argv.end() - 1, {"--mqtt-version", "5"});  // the setting under test
            process strict("llm-mqtt-5", argv, st.dir.path());
            code = strict.wait_exit(30s);
            REQUIRE_MESSAGE(code.has_value(), "llm-mqtt ask did not exit within 30 s");
            INFO("stderr: " << strict.stderr_text());
            CHECK(*code != 0);
            CHECK(strict.stderr_text().find("may not speak MQTT 5") != std::string::npos);
        }
    }
}

}  // namespace
}  // namespace llmb::itest
