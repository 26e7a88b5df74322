// The bridge as users run it: default settings except the one each test is about, so that no
// lowered timeout or raised limit hides what the defaults do.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

const std::string k_echo = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";

TEST_SUITE("defaults.stall") {
    TEST_CASE("a stream silent after its first bytes ends within the idle timeout") {
        constexpr auto idle = 1000ms;
        stack_options opts;
        // Lowered so that the test is short; the first-byte timeout stays at its 120 s default.
        opts.bridge.args = {"--idle-timeout-ms", std::to_string(idle.count())};
        stack st(opts);
        test_client c(st.mqtt.url());
        c.subscribe_client("d");

        // A role chunk and three 4-byte content deltas, then nothing on an open connection.
        const auto sent = clock_type::now();
        c.publish_request("d", echo_request("stall", k_echo, "piece=4 fault_after=3 fault=stall"));
        REQUIRE(c.wait_first_chunk("d", "stall", 10s));
        const auto first_chunk = clock_type::now();
        // Far below the default first-byte timeout: a watchdog waiting for it fails here.
        auto s = c.collect("d", "stall", 10s);
        const auto ended = clock_type::now();
        INFO(s.summary());
        check_error(s, "upstream_timeout");
        CHECK(s.text() == k_echo.substr(0, 12));
        CHECK(ended - sent >= idle);
        CHECK(ended - first_chunk <= idle + 1s);
        check_serving(c, "d", "after_stall");
    }
}

}  // namespace
}  // namespace llmb::itest
