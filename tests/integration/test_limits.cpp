// Limits: a backend's slots and queue (queued status with positions, overloaded beyond), a
// project's per-client request rate and its per-client concurrency.
#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// Project llm with these limits (each line "      key: value\n").
std::string llm_limits(const std::string& lines) {
    return "projects:\n  - prefix: llm\n    limits:\n" + lines;
}

// An ASCII text of `pieces` pieces of 4 bytes: echoed with piece=4, one chunk each.
std::string pieces_text(int pieces) {
    std::string text;
    for (int i = 0; i < pieces; ++i) {
        text += "t" + std::to_string(100 + i);
    }
    return text;
}

std::string event_type(const received& m) {
    auto j = nlohmann::json::parse(m.payload, nullptr, false);
    return j.is_object() ? j.value("type", std::string()) : std::string();
}

// Position in the client's inbox of the first message on topic with this event type; the
// inbox size when there is none.
std::size_t arrival(const test_client& c, const std::string& topic, std::string_view type) {
    const auto& in = c.inbox();
    auto it = std::find_if(in.begin(), in.end(), [&](const received& m) {
        return m.topic == topic && event_type(m) == type;
    });
    return static_cast<std::size_t>(it - in.begin());
}

// Index of the first event of this type in s; events.size() when there is none.
std::size_t event_index(const response_stream& s, std::string_view type) {
    for (std::size_t i = 0; i < s.events.size(); ++i) {
        if (s.events[i].value("type", std::string()) == type) {
            return i;
        }
    }
    return s.events.size();
}

const nlohmann::json* queued_status(const response_stream& s) {
    for (const auto& e : s.events) {
        if (e.value("type", std::string()) == "status" &&
            e.value("status", std::string()) == "queued") {
            return &e;
        }
    }
    return nullptr;
}

TEST_SUITE("limits") {
    TEST_CASE("one slot and a queue of two: two wait with positions, the fourth is overloaded") {
        // slots 1 and queue 2 (defaults 4 and 1000) are what the test is about.
        limits_stack st("    slots: 1\n    queue: 2\n", "");
        test_client c(st.mqtt.url());
        const std::vector<std::string> clients{"qa", "qb", "qc", "qd"};
        for (const auto& client : clients) {
            c.subscribe_client(client);
        }
        const std::string text = pieces_text(20);  // 20 chunks, 20 ms apart
        for (const auto& client : clients) {
            c.publish_request(client, echo_request("q", text, "piece=4 delay_ms=20"));
        }

        INFO("mock server stats: " << st.llm.stats().dump());
        std::vector<response_stream> streams;
        for (const auto& client : clients) {
            streams.push_back(c.collect(client, "q", 10s));
        }
        const response_stream* overloaded = nullptr;
        const response_stream* running = nullptr;
        std::vector<const response_stream*> waiting(3, nullptr);  // by queue position
        for (const auto& s : streams) {
            INFO(s.summary());
            check_well_formed(s);
            if (s.last().value("type", std::string()) == "error") {
                CHECK(overloaded == nullptr);
                overloaded = &s;
            } else if (const auto* status = queued_status(s)) {
                INFO("status: " << status->dump());
                REQUIRE((*status)["position"].is_number_unsigned());
                auto position = (*status)["position"].get<std::size_t>();
                REQUIRE((position == 1 || position == 2));
                CHECK(waiting[position] == nullptr);
                waiting[position] = &s;
            } else {
                CHECK(running == nullptr);
                running = &s;
            }
        }
        REQUIRE_MESSAGE(overloaded != nullptr, "no request was refused");
        REQUIRE_MESSAGE(running != nullptr, "no request got the slot without waiting");
        REQUIRE_MESSAGE(waiting[1] != nullptr, "no request waited at position 1");
        REQUIRE_MESSAGE(waiting[2] != nullptr, "no request waited at position 2");

        check_error(*overloaded, "overloaded");
        CHECK(overloaded->last()["retryable"] == true);
        CHECK(overloaded->count("chunk") == 0);
        check_done(*running, text);
        for (std::size_t position : {1U, 2U}) {
            CAPTURE(position);
            const auto& w = *waiting[position];
            check_done(w, text);
            // Queued before any text.
            CHECK(event_index(w, "status") < event_index(w, "chunk"));
        }

        // The refusal came at once, before any stream had finished; each waiting stream began
        // only after the one ahead of it had ended: one slot, served in queue order.
        CHECK(arrival(c, overloaded->topic, "error") < arrival(c, running->topic, "done"));
        CHECK(arrival(c, running->topic, "done") < arrival(c, waiting[1]->topic, "chunk"));
        CHECK(arrival(c, waiting[1]->topic, "done") < arrival(c, waiting[2]->topic, "chunk"));
        CHECK(st.llm.stats()["requests"] == 3);

        // After another request as a barrier, still exactly one terminal event each.
        check_serving(c, "qe", "barrier");
        check_still_one_terminal(c, streams);
    }

    TEST_CASE("a client beyond its rate gets rate_limited; other clients are served") {
        // A rate of 1/s with a burst of 2 (defaults 10 and 20): the third request is over it.
        limits_stack st("", llm_limits("      rate_per_second: 1\n      rate_burst: 2\n"));
        test_client c(st.mqtt.url());
        c.subscribe_client("ra");
        c.subscribe_client("rb");
        for (const char* id : {"r1", "r2", "r3"}) {
            c.publish_request("ra", echo_request(id, std::string("rated ") + id));
        }
        c.publish_request("rb", echo_request("b1", "other client"));

        check_done(c.collect("ra", "r1", 10s), "rated r1");
        check_done(c.collect("ra", "r2", 10s), "rated r2");
        auto limited = c.collect("ra", "r3", 10s);
        check_error(limited, "rate_limited");
        CHECK(limited.count("chunk") == 0);
        const auto& err = limited.last();
        INFO("error: " << err.dump());
        CHECK(err["retryable"] == true);
        REQUIRE(err["retry_after_ms"].is_number_unsigned());
        auto retry_after = err["retry_after_ms"].get<std::uint64_t>();
        CHECK(retry_after > 0);
        CHECK(retry_after <= 1000);
        check_done(c.collect("rb", "b1", 10s), "other client");
        CHECK(st.llm.stats()["requests"] == 3);

        // The time passing is what is under test: once retry_after_ms is over, the client is
        // served again.
        std::this_thread::sleep_for(ms{static_cast<ms::rep>(retry_after)} + 50ms);
        c.publish_request("ra", echo_request("r4", "rated r4"));
        check_done(c.collect("ra", "r4", 10s), "rated r4");
    }

    TEST_CASE("a client beyond max_concurrent_per_client gets rate_limited while one runs") {
        // One request at a time per client (default 16) is what the test is about.
        limits_stack st("", llm_limits("      max_concurrent_per_client: 1\n"));
        test_client c(st.mqtt.url());
        c.subscribe_client("ca");
        c.subscribe_client("cb");
        const std::string text = pieces_text(40);  // 40 chunks, 25 ms apart: about a second
        c.publish_request("ca", echo_request("slow", text, "piece=4 delay_ms=25"));
        REQUIRE_MESSAGE(c.wait_first_chunk("ca", "slow", 10s), "the slow stream did not start");

        c.publish_request("ca", echo_request("second", "second request"));
        auto second = c.collect("ca", "second", 10s);
        check_error(second, "rate_limited");
        CHECK(second.count("chunk") == 0);
        CHECK_MESSAGE(!c.collect("ca", "slow", 0ms).finished(),
                      "the slow stream ended before the second request was refused");

        // Another client is not limited by this one.
        c.publish_request("cb", echo_request("other", "other client"));
        check_done(c.collect("cb", "other", 10s), "other client");

        auto slow = c.collect("ca", "slow", 15s);
        check_done(slow, text);
        CHECK(slow.count("chunk") == 40);

        // Its slot is free again.
        c.publish_request("ca", echo_request("third", "third request"));
        check_done(c.collect("ca", "third", 10s), "third request");
    }
}

}  // namespace
}  // namespace llmb::itest
