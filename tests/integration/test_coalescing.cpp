// Coalescing under load: text that arrives while the bridge's last chunk of a stream still waits
// for room in the window of unacknowledged messages (mosquitto's Receive Maximum, 20 by default)
// joins that chunk. Every stream's text still arrives exactly, on both topics, with seq
// contiguous and every packet within the limit; at light load each piece stays a chunk of its own.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

TEST_SUITE("coalescing") {
    TEST_CASE("streams at full speed: fewer chunks than pieces, text exact on both topics") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("co");
        // As many streams as the default 4 slots serve at once; one of them with a small
        // max_packet, so that joined chunks meet the packet limit often.
        constexpr std::size_t k_streams = 4;
        constexpr std::size_t k_limit = 256;
        const std::string text = numbered_text(6000);
        for (std::size_t i = 0; i < k_streams; ++i) {
            // piece=1: one delta per byte, sent without delay, far faster than the broker
            // acknowledges two messages per delta.
            auto req = echo_request("f" + std::to_string(i), text, "piece=1");
            if (i == 0)
                req["max_packet"] = k_limit;
            c.publish_request("co", req);
        }
        std::size_t chunks = 0;
        for (std::size_t i = 0; i < k_streams; ++i) {
            auto s = c.collect("co", "f" + std::to_string(i), 60s);
            INFO(s.summary());
            check_done(s, text);
            REQUIRE(c.await_text(s, text.size(), 10s));
            CHECK(s.raw_text() == text);
            if (i == 0) {
                CHECK(largest_packet(s.messages) <= k_limit);
                CHECK(largest_packet(s.text_messages) <= k_limit);
            }
            chunks += s.count("chunk");
        }
        MESSAGE((k_streams * text.size()) << " pieces became " << chunks << " chunk events");
        CHECK(chunks < k_streams * text.size() / 2);
    }

    TEST_CASE("one stream with paced pieces: each piece is a chunk of its own") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("co1");
        const std::string text = numbered_text(40);
        // 10 pieces of 4 bytes 30 ms apart: the broker acknowledges each long before the next.
        c.publish_request("co1", echo_request("p", text, "piece=4 delay_ms=30"));
        auto s = c.collect("co1", "p", 10s);
        INFO(s.summary());
        check_done(s, text);
        CHECK(s.count("chunk") == text.size() / 4);
        REQUIRE(c.await_text(s, text.size(), 5s));
        CHECK(s.text_messages.size() == text.size() / 4);
    }
}

}  // namespace
}  // namespace llmb::itest
