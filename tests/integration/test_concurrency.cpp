// Many requests in flight at once, from several clients.
#include <doctest/doctest.h>

#include <memory>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

std::string request_text(std::size_t client, std::size_t request) {
    return "client " + std::to_string(client) + " asks question " + std::to_string(request) +
           ": ¿qué tal? 数" + std::to_string(client * 10 + request) + " 🙂 " +
           std::string(request * 3 + client, '.') + " end";
}

TEST_SUITE("concurrency") {
    TEST_CASE("100 concurrent requests from 10 clients all complete exactly") {
        constexpr std::size_t clients = 10;
        constexpr std::size_t per_client = 10;
        stack_options opts;
        opts.bridge.spare_clients = clients;  // connected at once, not one after another
        stack st(opts);
        std::vector<std::unique_ptr<test_client>> cs;
        for (std::size_t i = 0; i < clients; ++i) {
            cs.push_back(std::make_unique<test_client>(st.mqtt.url()));
            cs.back()->subscribe_client("cc" + std::to_string(i));
        }
        // Every request is published before any answer is read; the mock paces its pieces so
        // that the streams overlap.
        for (std::size_t r = 0; r < per_client; ++r) {
            for (std::size_t i = 0; i < clients; ++i) {
                cs[i]->publish_request(
                    "cc" + std::to_string(i),
                    echo_request("r" + std::to_string(r), request_text(i, r), "delay_ms=2"));
            }
        }
        std::size_t complete = 0;
        for (std::size_t i = 0; i < clients; ++i) {
            cs[i]->drain();
            for (std::size_t r = 0; r < per_client; ++r) {
                CAPTURE(i);
                CAPTURE(r);
                auto s = cs[i]->collect("cc" + std::to_string(i), "r" + std::to_string(r), 60s);
                check_done(s, request_text(i, r));
                if (s.finished() && s.text() == request_text(i, r)) {
                    ++complete;
                }
            }
        }
        CHECK(complete == clients * per_client);
        // A late extra event for any stream would show up before this answer does.
        check_serving(*cs[0], "cc0", "after");
        for (std::size_t i = 0; i < clients; ++i) {
            cs[i]->drain();
            for (std::size_t r = 0; r < per_client; ++r) {
                CAPTURE(i);
                CAPTURE(r);
                auto s = cs[i]->collect("cc" + std::to_string(i), "r" + std::to_string(r), 0ms);
                CHECK(s.terminals() == 1);
                CHECK(s.assembler.violations().empty());
            }
        }
        auto stats = st.llm.stats();
        CHECK(stats["requests"].get<std::uint64_t>() == clients * per_client + 1);
        CHECK(stats["streams_completed"].get<std::uint64_t>() == clients * per_client + 1);
    }
}

}  // namespace
}  // namespace llmb::itest
