// Coalescing under load: text that arrives while the bridge's last chunk of a stream still waits
// for room in the window of unacknowledged messages (mosquitto's Receive Maximum, 20 by default)
// joins that chunk. Every stream's text still arrives exactly, on both topics, with seq
// contiguous and every packet within the limit; at light load each piece stays a chunk of its own.
#include <doctest/doctest.h>

#include <optional>

#include "ack_relay.hpp"
#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// The bridge reaches the broker through a relay that holds back the broker's acknowledgements
// once a long stream is under way: the bridge then has exactly `window` QoS 1 publishes out,
// never more, and the text that comes meanwhile waits in the bridge (joining its last chunk).
// Released, the stream ends with all its text and its seq contiguous.
void check_window(const std::optional<std::size_t>& max_inflight, std::size_t window) {
    CAPTURE(window);
    test_dir dir;
    broker_options bo;
    // mosquitto announces its max_inflight_messages (20 by default) as its Receive Maximum,
    // which caps the window too: above the bridge's setting, so that the setting decides.
    bo.max_inflight_messages = 1000;
    broker mqtt(dir, bo);
    mock_llm llm(dir);
    ack_relay relay(mqtt.port());
    bridge_options o;
    o.mqtt_flag = false;  // the bridge goes through the relay, its status client does not
    o.args = {"--mqtt", relay.url()};
    if (max_inflight)
        o.args.insert(o.args.end(), {"--max-inflight", std::to_string(*max_inflight)});
    bridge br(dir, mqtt, llm.url(), o);

    test_client c(mqtt.url());
    c.subscribe_client("win");
    // 400 pieces 5 ms apart: two seconds of text, far more events than any window here.
    const std::string text = numbered_text(4000);
    c.publish_request("win", echo_request("w", text, "piece=10 delay_ms=5"));
    REQUIRE(c.wait_first_chunk("win", "w", 10s));
    relay.hold();
    CHECK_MESSAGE(wait_until([&] { return relay.unacknowledged() >= window; }, 10s),
                  relay.unacknowledged() << " publishes unacknowledged");
    // The rest of the text comes while the window is full: it has to wait, not go out.
    CHECK(llm.wait_stat("streams_completed", 1, 10s));
    relay.release();

    auto s = c.collect("win", "w", 30s);
    INFO(s.summary());
    check_done(s, text);
    check_seqs(s);
    CHECK(relay.most_unacknowledged() == window);
}

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

    TEST_CASE("default settings: at most 100 publishes wait for the broker's acknowledgement") {
        check_window(std::nullopt, 100);
    }

    TEST_CASE("--max-inflight 5: at most 5 publishes wait for the broker's acknowledgement") {
        check_window(5, 5);
    }
}

}  // namespace
}  // namespace llmb::itest
