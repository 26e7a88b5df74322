// Streaming mode end to end: request in, chunk events and raw text out, upstream request shape.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

TEST_SUITE("streaming") {
    TEST_CASE("echoed text arrives as chunks that join to it exactly, then done") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev1");
        const std::string text = "The quick brown fox jumps over the lazy dog, 42 times over.";
        c.publish_request("dev1", echo_request("s1", text));
        auto s = c.collect("dev1", "s1", 10s);
        check_done(s, text);
        INFO(s.summary());
        CHECK(s.count("chunk") >= text.size() / 8);  // the mock sends 4-byte pieces
        CHECK(s.events.front()["model"].is_string());
        const auto& done = s.last();
        CHECK(done["usage"]["completion_tokens"].get<std::uint64_t>() > 0);
        CHECK(done.contains("duration_ms"));
        CHECK(done.contains("ttft_ms"));
        CHECK(done.contains("tokens_per_second"));

        REQUIRE_MESSAGE(c.await_text(s, text.size(), 5s), "the text topic carried "
                                                              << s.raw_text().size() << " of "
                                                              << text.size() << " bytes");
        CHECK(s.raw_text() == text);
        // The raw text goes at QoS 0 by default, the events at QoS 1.
        for (const auto& m : s.text_messages)
            CHECK(m.qos == 0);
        for (const auto& m : s.messages)
            CHECK(m.qos == 1);

        auto up = st.llm.last_request();
        INFO("upstream request: " << up.dump());
        CHECK(up["stream"] == true);
        CHECK(up["stream_options"]["include_usage"] == true);
        REQUIRE(up["messages"].is_array());
        REQUIRE(up["messages"].size() == 1);
        CHECK(up["messages"][0]["role"] == "user");
        CHECK(up["messages"][0]["content"] == mock_prompt("echo ", text));
    }

    TEST_CASE("non-ASCII text round trips byte for byte on both topics") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev2");
        const std::string text = mixed_text();
        for (const char* piece : {"piece=1", "piece=3", "piece=7", "piece=500"}) {
            CAPTURE(piece);
            std::string id = std::string("u") + (piece + 6);
            c.publish_request("dev2", echo_request(id, text, piece));
            auto s = c.collect("dev2", id, 10s);
            check_done(s, text);
            REQUIRE(c.await_text(s, text.size(), 5s));
            CHECK(s.raw_text() == text);
        }
    }

    TEST_CASE("a request without id gets a generated id, named in the start event") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev3");
        const std::string text = "no id here";
        c.publish_request("dev3", echo_request("", text));
        auto s = c.collect("llm/response/dev3/+", 10s);
        check_done(s, text);
        REQUIRE(!s.id.empty());
        CHECK(s.events.front()["id"] == s.id);
        CHECK(s.id.size() <= 64);
        CHECK(s.id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789_.-") == std::string::npos);

        // A second request without id gets a different one.
        c.publish_request("dev3", echo_request("", text));
        auto second = c.wait_for(
            "llm/response/dev3/+", [&](const received& m) { return m.topic != s.topic; }, 10s);
        REQUIRE_MESSAGE(second.has_value(), "no response to the second request without id");
        auto s2 = c.collect(second->topic, 10s);
        check_done(s2, text);
        CHECK(s2.id != s.id);
    }

    TEST_CASE("the messages form and the prompt form") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev4");
        const std::string text = "from the messages form";
        nlohmann::json req = {{"id", "m1"},
                              {"messages",
                               {{{"role", "system"}, {"content", "Answer briefly."}},
                                {{"role", "user"}, {"content", "earlier question"}},
                                {{"role", "assistant"}, {"content", "earlier answer"}},
                                {{"role", "user"}, {"content", mock_prompt("echo", text)}}}}};
        c.publish_request("dev4", req);
        auto s = c.collect("dev4", "m1", 10s);
        check_done(s, text);
        auto up = st.llm.last_request();
        INFO("upstream request: " << up.dump());
        REQUIRE(up["messages"].size() == 4);
        CHECK(up["messages"][0]["role"] == "system");
        CHECK(up["messages"][0]["content"] == "Answer briefly.");
        CHECK(up["messages"][2]["role"] == "assistant");
        CHECK(up["messages"][3]["content"] == mock_prompt("echo", text));

        const std::string text2 = "from the prompt form";
        c.publish_request("dev4", echo_request("p1", text2));
        auto s2 = c.collect("dev4", "p1", 10s);
        check_done(s2, text2);
        auto up2 = st.llm.last_request();
        REQUIRE(up2["messages"].size() == 1);
        CHECK(up2["messages"][0]["role"] == "user");
    }

    TEST_CASE("reasoning text arrives as reasoning chunks, not counted in bytes") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev5");
        c.publish_request("dev5", mock_request("r1", "tokens=6 reasoning=5"));
        auto s = c.collect("dev5", "r1", 10s);
        REQUIRE(!s.text().empty());
        check_done(s, s.text());
        INFO(s.summary());
        std::size_t reasoning_chunks = 0;
        std::size_t last_reasoning = 0;
        std::size_t first_text = s.events.size();
        for (std::size_t i = 0; i < s.events.size(); ++i) {
            const auto& e = s.events[i];
            if (e.value("type", std::string()) != "chunk") {
                continue;
            }
            if (e.contains("reasoning")) {
                ++reasoning_chunks;
                last_reasoning = i;
                CHECK(!e.contains("text"));
            } else if (first_text == s.events.size()) {
                first_text = i;
            }
        }
        CHECK(reasoning_chunks >= 1);
        CHECK(!s.reasoning().empty());
        CHECK(last_reasoning < first_text);  // the model thinks, then answers
        CHECK(s.last()["bytes"].get<std::uint64_t>() == s.text().size());
    }

    TEST_CASE("max_tokens caps the answer: finish_reason length") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev6");
        auto req = mock_request("l1", "tokens=50");
        req["max_tokens"] = 5;
        c.publish_request("dev6", req);
        auto s = c.collect("dev6", "l1", 10s);
        REQUIRE(!s.text().empty());
        check_done(s, s.text(), "stream", "length");
        CHECK(s.last()["usage"]["completion_tokens"] == 5);
        CHECK(st.llm.last_request()["max_tokens"] == 5);
    }
}

}  // namespace
}  // namespace llmb::itest
