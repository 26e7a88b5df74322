// Upstream faults: each gives exactly one terminal error with the right code, after the chunks
// that were sent before it, and the bridge keeps serving.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

const std::string k_echo = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";

TEST_SUITE("faults") {
    TEST_CASE("HTTP errors before the stream give upstream_error") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("f");
        // The server refusing the request itself (400, a prompt over its context) is refused
        // again if sent again: not retryable; its own failures and rate limits pass.
        for (const auto& [fault, retryable] :
             std::vector<std::pair<std::string, bool>>{{"http_500", true},
                                                       {"http_400", false},
                                                       {"http_429", true},
                                                       {"http_503", true},
                                                       {"ctx_exceeded", false}}) {
            CAPTURE(fault);
            std::string id = "e_" + fault;
            c.publish_request("f", echo_request(id, k_echo, "fault=" + fault));
            auto s = c.collect("f", id, 10s);
            check_error(s, "upstream_error");
            CHECK(s.last()["retryable"] == retryable);
            // The mock's rate limit says "Retry-After: 2"; the others say nothing of when.
            if (fault == "http_429")
                CHECK(s.last().value("retry_after_ms", 0) == 2000);
            else
                CHECK_FALSE(s.last().contains("retry_after_ms"));
            CHECK(s.count("chunk") == 0);
            check_serving(c, "f", "ok_" + fault);
        }
    }

    TEST_CASE("faults in the middle of the stream give upstream_error after the chunks sent") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("f");
        for (const char* fault :
             {"error_event", "old_error", "reset", "no_done", "malformed", "invalid_utf8"}) {
            CAPTURE(fault);
            std::string id = std::string("m_") + fault;
            c.publish_request(
                "f", echo_request(id, k_echo, std::string("piece=4 fault_after=3 fault=") + fault));
            auto s = c.collect("f", id, 10s);
            check_error(s, "upstream_error");
            INFO(s.summary());
            // Three 4-byte pieces went out before the fault, and nothing after it.
            CHECK(s.text() == k_echo.substr(0, 12));
            check_serving(c, "f", std::string("ok_") + fault);
        }
    }

    TEST_CASE("a stalled stream and a silent server give upstream_timeout") {
        stack_options opts;
        opts.bridge.args = {"--idle-timeout-ms", "300",          // the stall ends quickly
                            "--first-byte-timeout-ms", "1000"};  // below the mock's 5 s ttfb
        stack st(opts);
        test_client c(st.mqtt.url());
        c.subscribe_client("f");

        auto started = clock_type::now();
        c.publish_request("f", echo_request("stall", k_echo, "piece=4 fault_after=2 fault=stall"));
        auto s = c.collect("f", "stall", 10s);
        check_error(s, "upstream_timeout");
        CHECK(s.text() == k_echo.substr(0, 8));
        CHECK(clock_type::now() - started < 5s);
        check_serving(c, "f", "ok_stall");

        c.publish_request("f", echo_request("ttfb", k_echo, "ttfb_ms=5000"));
        auto t = c.collect("f", "ttfb", 10s);
        check_error(t, "upstream_timeout");
        CHECK(t.count("chunk") == 0);
        check_serving(c, "f", "ok_ttfb");
    }

    TEST_CASE("an LLM server with nothing listening gives upstream_unavailable") {
        stack_options opts;
        opts.llm_unreachable = true;
        stack st(opts);
        test_client c(st.mqtt.url());
        c.subscribe_client("f");
        for (const char* id : {"u1", "u2"}) {
            CAPTURE(id);
            c.publish_request("f", echo_request(id, k_echo));
            auto s = c.collect("f", id, 10s);
            check_error(s, "upstream_unavailable");
            CHECK(s.last()["retryable"] == true);
        }
        CHECK(st.br.proc().running());
    }
}

}  // namespace
}  // namespace llmb::itest
