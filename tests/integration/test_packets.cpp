// Packet size limits: the request's max_packet, the broker's Maximum Packet Size, and events
// that only fit as frags.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

std::size_t frags_of(const response_stream& s, std::string_view of) {
    std::size_t n = 0;
    for (const auto& m : s.messages) {
        auto j = nlohmann::json::parse(m.payload, nullptr, false);
        if (j.value("type", std::string()) == "frag" && j.value("of", std::string()) == of) {
            ++n;
        }
    }
    return n;
}

// An echo of a long non-ASCII text with the request's max_packet set to limit: every packet on
// both topics fits and the text arrives exactly.
void check_echo_fits(std::size_t limit) {
    stack st;
    test_client c(st.mqtt.url());
    c.subscribe_client("k");
    const std::string text = mixed_text() + " / " + mixed_text();
    auto req = echo_request("p1", text, "piece=64");
    req["max_packet"] = limit;
    c.publish_request("k", req);
    auto s = c.collect("k", "p1", 15s);
    check_done(s, text);
    INFO(s.summary());
    REQUIRE(c.await_text(s, text.size(), 5s));
    CHECK(s.raw_text() == text);
    CHECK(largest_packet(s.messages) <= limit);
    CHECK(largest_packet(s.text_messages) <= limit);
    // 64-byte pieces do not fit such a packet as chunk events: the bridge split them.
    CHECK(s.count("chunk") > text.size() / 64);
}

// A tools request whose tool_calls event cannot fit one packet of `limit` bytes: it arrives as
// frags that reassemble to the same calls as without a limit.
void check_tool_calls_as_frags(std::size_t limit) {
    stack st;
    test_client c(st.mqtt.url());
    c.subscribe_client("t");
    auto req = nlohmann::json{{"id", "f1"},
                              {"prompt", mock_prompt("tool_calls=3", "weather in Oslo")},
                              {"tools", search_tools()},
                              {"max_packet", limit}};
    c.publish_request("t", req);
    auto s = c.collect("t", "f1", 15s);
    check_done(s, "", "whole", "tool_calls");
    INFO(s.summary());
    CHECK(frags_of(s, "tool_calls") >= 2);
    CHECK(largest_packet(s.messages) <= limit);
    const auto* calls = s.first("tool_calls");
    REQUIRE(calls != nullptr);
    check_search_calls((*calls)["tool_calls"], 3, "weather in Oslo");

    // The same request without a packet limit: one tool_calls event with the same calls.
    req["id"] = "f2";
    req.erase("max_packet");
    c.publish_request("t", req);
    auto plain = c.collect("t", "f2", 15s);
    check_done(plain, "", "whole", "tool_calls");
    CHECK(frags_of(plain, "tool_calls") == 0);
    const auto* plain_calls = plain.first("tool_calls");
    REQUIRE(plain_calls != nullptr);
    CHECK((*plain_calls)["tool_calls"] == (*calls)["tool_calls"]);
}

TEST_SUITE("packets") {
    TEST_CASE("request max_packet 128 (the protocol minimum): every packet fits, text exact") {
        check_echo_fits(128);
    }

    TEST_CASE("request max_packet 200: every packet fits, text exact") {
        check_echo_fits(200);
    }

    TEST_CASE("broker max_packet_size 400: everything fits and the bridge stays connected") {
        stack_options opts;
        opts.broker.max_packet_size = 400;  // the broker's limit is what the test is about
        stack st(opts);
        test_client c(st.mqtt.url());
        c.subscribe_client("b");

        auto whole = mock_request("w1", "tokens=300");
        whole["stream"] = false;
        c.publish_request("b", whole);
        auto sw = c.collect("b", "w1", 15s);
        c.publish_request("b", mock_request("s1", "tokens=300"));
        auto ss = c.collect("b", "s1", 30s);

        // The answer is far larger than a packet.
        CHECK(sw.text().size() > 1000);
        check_done(sw, sw.text(), "whole");
        check_done(ss, ss.text(), "stream");
        // The mock's words depend only on the prompt: both modes carry the same text.
        CHECK(sw.text() == ss.text());
        REQUIRE(c.await_text(sw, sw.text().size(), 5s));
        REQUIRE(c.await_text(ss, ss.text().size(), 5s));
        CHECK(sw.raw_text() == sw.text());
        CHECK(ss.raw_text() == ss.text());
        CHECK(largest_packet(sw.messages) <= 400);
        CHECK(largest_packet(sw.text_messages) <= 400);
        CHECK(largest_packet(ss.messages) <= 400);
        CHECK(largest_packet(ss.text_messages) <= 400);

        check_serving(c, "b", "after");
        CHECK(st.br.proc().running());
        CHECK_MESSAGE(!st.br.went_offline(),
                      "the broker published the bridge's will: "
                      "it was disconnected");
    }

    TEST_CASE("max_packet 128: a tool_calls event arrives as frags") {
        check_tool_calls_as_frags(128);
    }

    TEST_CASE("max_packet 200: a tool_calls event arrives as frags") {
        check_tool_calls_as_frags(200);
    }
}

}  // namespace
}  // namespace llmb::itest
