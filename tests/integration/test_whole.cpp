// Whole-response mode: requests with tools, and stream:false.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

TEST_SUITE("whole") {
    TEST_CASE("tools: start mode whole, the mock's tool calls, done with tool_calls") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("w");
        auto tools = search_tools();
        nlohmann::json req = {{"id", "t1"},
                              {"prompt", mock_prompt("tool_calls=2", "find two things")},
                              {"tools", tools},
                              {"tool_choice", "auto"}};
        c.publish_request("w", req);
        auto s = c.collect("w", "t1", 10s);
        check_done(s, "", "whole", "tool_calls");
        INFO(s.summary());
        CHECK(s.count("tool_calls") == 1);
        const auto* calls = s.first("tool_calls");
        REQUIRE(calls != nullptr);
        check_search_calls((*calls)["tool_calls"], 2, "find two things");
        // tool_calls comes after the start and before the done.
        CHECK(s.events.size() >= 3);
        CHECK(s.events[s.events.size() - 2]["type"] == "tool_calls");

        auto up = st.llm.last_request();
        INFO("upstream request: " << up.dump());
        CHECK(up["tools"] == tools);
        CHECK(up["tool_choice"] == "auto");
    }

    TEST_CASE("stream:false: start mode whole, the text exact, done") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("w");
        const std::string text = mixed_text();
        auto req = echo_request("n1", text);
        req["stream"] = false;
        c.publish_request("w", req);
        auto s = c.collect("w", "n1", 10s);
        check_done(s, text, "whole");
        REQUIRE(c.await_text(s, text.size(), 5s));
        CHECK(s.raw_text() == text);
        CHECK(s.count("tool_calls") == 0);
    }
}

}  // namespace
}  // namespace llmb::itest
