// Cancelling a request in flight: done with finish_reason cancelled, upstream aborted.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

TEST_SUITE("cancel") {
    TEST_CASE("a cancel ends a long stream with done cancelled and aborts the upstream") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev");
        c.publish_request("dev", mock_request("k1", "tokens=100000 delay_ms=5"));
        REQUIRE_MESSAGE(c.wait_first_chunk("dev", "k1", 10s), "no chunk of k1 within 10 s");

        // A cancel from another client for the same id is not this request's cancel.
        c.publish_cancel("other", R"({"id":"k1"})");
        c.publish_cancel("dev", R"({"id":"k1"})");
        auto s = c.collect("dev", "k1", 10s);
        INFO(s.summary());
        check_done(s, s.text(), "stream", "cancelled");
        CHECK(!s.text().empty());
        CHECK(s.last()["chunks"].get<std::uint64_t>() == s.count("chunk"));
        // 100000 tokens at 5 ms each would take over 8 minutes: it was cut short.
        CHECK(s.count("chunk") < 5000);

        CHECK_MESSAGE(st.llm.wait_stat("streams_aborted", 1, 5s),
                      "the mock saw no aborted stream: " << st.llm.stats().dump());
        auto stats = st.llm.stats();
        CHECK(stats["active"] == 0);
        CHECK(stats["streams_completed"] == 0);

        check_serving(c, "dev", "after");
        // A second cancel of the finished request changes nothing.
        c.publish_cancel("dev", R"({"id":"k1"})");
        check_serving(c, "dev", "after2");
        c.refresh(s);
        CHECK(s.assembler.violations().empty());
        CHECK(s.terminals() == 1);
    }

    TEST_CASE("a cancel before the first byte ends the request with done cancelled") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev");
        c.publish_request("dev", mock_request("k2", "tokens=10 ttfb_ms=20000"));
        // Once the mock has the request, the bridge is waiting for its first byte.
        REQUIRE_MESSAGE(st.llm.wait_stat("requests", 1, 10s),
                        "the request never reached the mock: " << st.llm.stats().dump());
        c.publish_cancel("dev", R"({"id":"k2"})");
        auto s = c.collect("dev", "k2", 10s);
        check_done(s, "", "stream", "cancelled");
        CHECK(s.count("chunk") == 0);
        check_serving(c, "dev", "after");
    }
}

}  // namespace
}  // namespace llmb::itest
