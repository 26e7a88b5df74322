// SIGTERM: requests in flight get their terminal event, the status goes offline, exit code 0.
#include <doctest/doctest.h>

#include <signal.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// The retained status a newly subscribing device sees.
std::string retained_state(const broker& mqtt) {
    test_client late(mqtt.url());
    late.subscribe("llm/status");
    auto m = late.wait_for(
        "llm/status", [](const received& r) { return r.retained; }, 5s);
    if (!m) {
        return "(no retained status)";
    }
    auto j = nlohmann::json::parse(m->payload, nullptr, false);
    return j.is_object() ? j.value("state", std::string("(no state)")) : m->payload;
}

bool is_taken(const received& m) {
    auto j = nlohmann::json::parse(m.payload, nullptr, false);
    std::string type = j.is_object() ? j.value("type", std::string()) : std::string();
    return type == "chunk" || (type == "status" && j.value("status", std::string()) == "queued");
}

TEST_SUITE("shutdown") {
    TEST_CASE("SIGTERM with a short grace ends unfinished streams with shutting_down") {
        stack_options opts;
        // --grace-ms 300 (default 10000): the grace must run out while the streams still go.
        opts.bridge.args = {"--grace-ms", "300"};
        stack st(opts);
        test_client c(st.mqtt.url());
        c.subscribe_client("sd");
        constexpr int streams = 5;
        for (int i = 0; i < streams; ++i) {
            c.publish_request("sd",
                              mock_request("s" + std::to_string(i), "tokens=100000 delay_ms=5"));
        }
        // The bridge runs as many as the backend has slots and queues the rest: each stream is
        // taken once it has a chunk or a queued status.
        for (int i = 0; i < streams; ++i) {
            REQUIRE_MESSAGE(c.wait_for("llm/response/sd/s" + std::to_string(i), is_taken, 10s),
                            "stream s" << i << " got neither a chunk nor a queued status");
        }
        CHECK(retained_state(st.mqtt) == "online");

        auto signalled = clock_type::now();
        st.br.proc().send_signal(SIGTERM);
        for (int i = 0; i < streams; ++i) {
            CAPTURE(i);
            auto s = c.collect("sd", "s" + std::to_string(i), 10s);
            check_error(s, "shutting_down");
            if (s.first("status") == nullptr ||
                (*s.first("status")).value("status", std::string()) != "queued") {
                CHECK(!s.text().empty());
            }
        }
        auto code = st.br.proc().wait_exit(10s);
        REQUIRE_MESSAGE(code.has_value(), "the bridge did not exit within 10 s of SIGTERM");
        CHECK(*code == 0);
        CHECK(clock_type::now() - signalled < 5s);
        CHECK(st.br.wait_state("offline", 5s));
        CHECK(retained_state(st.mqtt) == "offline");
        // The upstream transfers were dropped, not left running.
        CHECK_MESSAGE(st.llm.wait_stat("active", 0, 5s), st.llm.stats().dump());
    }

    TEST_CASE("SIGTERM with the default grace lets short streams finish with done") {
        // The default grace (10 s) is long enough for these half-second streams.
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("sd");
        constexpr int streams = 3;
        for (int i = 0; i < streams; ++i) {
            c.publish_request("sd", mock_request("g" + std::to_string(i), "tokens=20 delay_ms=25"));
        }
        for (int i = 0; i < streams; ++i) {
            REQUIRE_MESSAGE(c.wait_first_chunk("sd", "g" + std::to_string(i), 10s),
                            "stream g" << i << " did not start");
        }
        st.br.proc().send_signal(SIGTERM);
        for (int i = 0; i < streams; ++i) {
            CAPTURE(i);
            auto s = c.collect("sd", "g" + std::to_string(i), 10s);
            REQUIRE(!s.text().empty());
            check_done(s, s.text());
            CHECK(s.last()["usage"]["completion_tokens"] == 20);
        }
        auto code = st.br.proc().wait_exit(10s);
        REQUIRE_MESSAGE(code.has_value(), "the bridge did not exit within 10 s of SIGTERM");
        CHECK(*code == 0);
        CHECK(st.br.wait_state("offline", 5s));
        CHECK(retained_state(st.mqtt) == "offline");
        auto stats = st.llm.stats();
        CHECK(stats["streams_completed"] == streams);
        CHECK(stats["streams_aborted"] == 0);
    }
}

}  // namespace
}  // namespace llmb::itest
