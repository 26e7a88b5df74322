// A backend's slots from the LLM server: with no `slots` in the configuration, the bridge runs as
// many requests at once as the server's GET /props reports in total_slots, read at start and
// with each health probe.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

constexpr int k_streams = 5;

// An ASCII text of `pieces` pieces of 4 bytes: echoed with piece=4, one chunk each.
std::string pieces_text(int pieces) {
    std::string text;
    for (int i = 0; i < pieces; ++i) {
        text += "s" + std::to_string(100 + i);
    }
    return text;
}

bool queued(const response_stream& s) {
    return std::any_of(s.events.begin(), s.events.end(), [](const nlohmann::json& e) {
        return e.value("type", std::string()) == "status" &&
               e.value("status", std::string()) == "queued";
    });
}

struct run_result {
    std::uint64_t most_active = 0;  // the most chat requests the mock saw at once
    std::vector<response_stream> streams;
};

// A mock server started with --slots `slots` and a bridge with defaults (its backend from --llm,
// so no slots configured); runs k_streams slow streams at once once the bridge has read /props.
run_result run_streams(const std::string& slots) {
    stack st({{}, {"--slots", slots}, {}});
    // The bridge reads /props at start; requests sent before the answer would see the default 4.
    REQUIRE_MESSAGE(st.br.proc().wait_stderr(slots + " slots (total_slots", 10s),
                    st.br.proc().stderr_text());
    test_client c(st.mqtt.url());
    std::vector<std::string> clients;
    for (int i = 0; i < k_streams; ++i) {
        clients.push_back("slot" + std::to_string(i));
        c.subscribe_client(clients.back());
    }
    // 30 chunks 20 ms apart: each stream runs 0.6 s, long after all were published.
    const std::string text = pieces_text(30);
    for (const auto& client : clients)
        c.publish_request(client, echo_request("s", text, "piece=4 delay_ms=20"));

    run_result r;
    const bool ended = wait_until(
        [&] {
            const auto stats = st.llm.stats();
            r.most_active = std::max(r.most_active, stats["active"].get<std::uint64_t>());
            return stats["streams_completed"].get<std::uint64_t>() == k_streams;
        },
        30s, 5ms);
    INFO("mock server stats: " << st.llm.stats().dump());
    REQUIRE_MESSAGE(ended, "the streams did not all end");
    for (const auto& client : clients) {
        r.streams.push_back(c.collect(client, "s", 10s));
        INFO(r.streams.back().summary());
        check_done(r.streams.back(), text);
    }
    return r;
}

TEST_SUITE("slots") {
    TEST_CASE("total_slots 2 from /props: never more than 2 at the server, 3 wait in the queue") {
        const auto r = run_streams("2");
        CHECK(r.most_active == 2);
        const auto waited = std::count_if(r.streams.begin(), r.streams.end(), queued);
        CHECK(waited == k_streams - 2);
    }

    TEST_CASE("total_slots 6 from /props: all 5 run at once, none waits") {
        const auto r = run_streams("6");
        CHECK(r.most_active == k_streams);
        for (const auto& s : r.streams)
            CHECK_FALSE(queued(s));
    }

    TEST_CASE("a server that comes up later: 4 slots until a health probe reads its /props") {
        test_dir dir;
        broker mqtt(dir);
        const std::uint16_t port = free_port();  // nothing listens there yet
        bridge_options o;
        o.config = dir.file("bridge.yaml");
        // health_interval_ms 200 (default 10000): the probe after the server is up comes soon.
        write_file(o.config, "mqtt:\n  url: " + mqtt.url() +
                                 "\nbackends:\n  - name: late\n    url: http://127.0.0.1:" +
                                 std::to_string(port) + "\n    health_interval_ms: 200\n");
        bridge br(dir, mqtt, "", o);
        CHECK_MESSAGE(br.proc().wait_stderr("late: /props tells no total_slots: 4 slots", 10s),
                      br.proc().stderr_text());
        mock_llm llm(dir, {"--port", std::to_string(port), "--slots", "3"});
        CHECK_MESSAGE(br.proc().wait_stderr("late: 3 slots (total_slots of its /props)", 10s),
                      br.proc().stderr_text());
    }
}

}  // namespace
}  // namespace llmb::itest
