// The old deployment's topics: {project}/user_input in, one plain-text message out on
// {project}/assistant_response/{sessionId} (or an allowed replyTopic), errors as "Error: ...".
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

struct legacy_stack {
    legacy_stack() : mqtt(dir), llm(dir), br(dir, mqtt, "", options()), client(mqtt.url(), "maze") {
        client.subscribe("maze/assistant_response/#");
    }

    bridge_options options() {
        bridge_options o;
        o.config = dir.file("bridge.yaml");
        // The maze project with legacy topics and a system prompt is what the suite is about.
        write_file(o.config, "mqtt:\n  url: " + mqtt.url() +
                                 "\n"
                                 "backends:\n"
                                 "  - url: " +
                                 llm.url() +
                                 "\n"
                                 "projects:\n"
                                 "  - prefix: llm\n"
                                 "  - prefix: maze\n"
                                 "    legacy: true\n"
                                 "    system_prompt: Guide players through the maze.\n");
        return o;
    }

    // The one plain-text answer on topic.
    std::string answer_on(const std::string& topic) {
        auto m = client.wait_for(
            "maze/assistant_response/#", [&](const received& r) { return r.topic == topic; }, 10s);
        REQUIRE_MESSAGE(m.has_value(), "no answer on " << topic);
        return m->payload;
    }

    test_dir dir;
    broker mqtt;
    mock_llm llm;
    bridge br;
    test_client client;
};

std::string legacy_message(const std::string& session, const std::string& message,
                           const std::string& extra = "") {
    nlohmann::json j = {{"sessionId", session}, {"message", message}};
    if (!extra.empty())
        j.update(nlohmann::json::parse(extra));
    return j.dump();
}

TEST_SUITE("legacy") {
    TEST_CASE("old JSON in, the whole answer as plain text out, with the project's prompt") {
        legacy_stack st;
        const std::string text = "Turn left at the torch, then right. ünï 日本 🙂";
        st.client.publish("maze/user_input", legacy_message("player-7", mock_prompt("echo", text)));
        CHECK(st.answer_on("maze/assistant_response/player-7") == text);

        // Sampling fields in the old names reach the LLM server; the project's system prompt
        // comes first unless the message brings its own.
        st.client.publish("maze/user_input",
                          legacy_message("player-8", mock_prompt("echo_all", "hello"),
                                         R"({"temperature":0.25,"topP":0.5,"maxTokens":40,)"
                                         R"("systemPrompt":"Speak like a pirate."})"));
        CHECK(st.answer_on("maze/assistant_response/player-8") ==
              "system:Speak like a pirate.|user:hello");
        const auto up = upstream_request_with(st.llm, "hello");
        CHECK(up["temperature"] == 0.25);
        CHECK(up["top_p"] == 0.5);
        CHECK(up["max_tokens"] == 40);
        CHECK(up["stream"] == true);

        st.client.publish("maze/user_input",
                          legacy_message("player-9", mock_prompt("echo_all", "where am I")));
        CHECK(st.answer_on("maze/assistant_response/player-9") ==
              "system:Guide players through the maze.|user:where am I");
    }

    TEST_CASE("replyTopic under assistant_response is used; others are refused") {
        legacy_stack st;
        st.client.publish("maze/user_input",
                          legacy_message("p1", mock_prompt("echo", "custom"),
                                         R"({"replyTopic":"maze/assistant_response/room/4"})"));
        CHECK(st.answer_on("maze/assistant_response/room/4") == "custom");

        // A replyTopic outside the namespace is never published on: nothing comes there, and
        // the request is not served (the LLM server sees no request for it).
        st.client.subscribe("elsewhere/#");
        const auto before = st.llm.stats()["requests"].get<std::uint64_t>();
        st.client.publish("maze/user_input", legacy_message("p2", mock_prompt("echo", "outside"),
                                                            R"({"replyTopic":"elsewhere/x"})"));
        // A later message on the same connection is answered, so the refused one was handled.
        st.client.publish("maze/user_input", legacy_message("p3", mock_prompt("echo", "after")));
        CHECK(st.answer_on("maze/assistant_response/p3") == "after");
        CHECK(st.llm.stats()["requests"].get<std::uint64_t>() == before + 1);
        for (const auto& m : st.client.inbox())
            CHECK(m.topic.rfind("elsewhere/", 0) != 0);
    }

    TEST_CASE("errors are plain text starting with 'Error:'") {
        legacy_stack st;
        st.client.publish("maze/user_input", legacy_message("e1", mock_prompt("fault=http_500")));
        const auto upstream = st.answer_on("maze/assistant_response/e1");
        CHECK(upstream.rfind("Error: ", 0) == 0);
        CHECK(upstream.find("500") != std::string::npos);

        st.client.publish("maze/user_input", R"({"sessionId":"e2","message":""})");
        const auto bad = st.answer_on("maze/assistant_response/e2");
        CHECK(bad.rfind("Error: ", 0) == 0);
        CHECK(bad.find("message") != std::string::npos);

        // The new topics of the same project keep working beside the old ones.
        test_client c(st.mqtt.url(), "maze");
        c.subscribe_client("dev1");
        c.publish_request("dev1", echo_request("n1", "new style"));
        check_done(c.collect("dev1", "n1", 10s), "new style");
    }
}

}  // namespace
}  // namespace llmb::itest
