// Overload: ten times more requests than the backend's slots and queue hold, at once. The excess
// is refused quickly with a retryable error, every request ends with exactly one terminal, the
// bridge's memory stays bounded, and it serves normally right after.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// The default 4 slots, written out because the counts below depend on it; a queue of 16
// (default 1000) so that 200 requests are ten times what the backend takes.
constexpr std::size_t k_slots = 4;
constexpr std::size_t k_queue = 16;
constexpr std::size_t k_clients = 20;
constexpr std::size_t k_per_client = 10;  // 200 requests: 10 x (slots + queue)

// The bridge's peak resident memory under this burst (about 15 MB are seen).
constexpr std::size_t k_peak_bound_kb = 64 * 1024;

std::string type_of(const received& m) {
    auto j = nlohmann::json::parse(m.payload, nullptr, false);
    return j.is_object() ? j.value("type", std::string()) : std::string();
}

TEST_SUITE("overload") {
    TEST_CASE("ten times more requests than slots and queue: the excess is refused at once") {
        limits_stack st("    slots: " + std::to_string(k_slots) +
                            "\n    queue: " + std::to_string(k_queue) + "\n",
                        "");
        test_client c(st.mqtt.url());
        for (std::size_t cl = 0; cl < k_clients; ++cl) {
            c.subscribe_client("ov" + std::to_string(cl));
        }

        // Each accepted request streams 12 pieces 25 ms apart: the slots are busy for at least
        // (slots + queue) / slots rounds of 300 ms, long after every request was published.
        const std::string text = "ov-" + std::string(45, '.');
        const auto started = clock_type::now();
        for (std::size_t cl = 0; cl < k_clients; ++cl) {
            for (std::size_t r = 0; r < k_per_client; ++r) {
                c.publish_request(
                    "ov" + std::to_string(cl),
                    echo_request("r" + std::to_string(r), text, "piece=4 delay_ms=25"));
            }
        }

        // For the record (not a pass/fail threshold): how soon the refusals came.
        const auto published = clock_type::now();
        const auto errors_in_inbox = [&] {
            c.drain();
            return static_cast<std::size_t>(
                std::count_if(c.inbox().begin(), c.inbox().end(),
                              [](const received& m) { return type_of(m) == "error"; }));
        };
        wait_until([&] { return errors_in_inbox() >= k_clients * k_per_client / 2; }, 30s);
        MESSAGE("200 requests published in "
                << std::chrono::duration_cast<ms>(published - started).count() << " ms; "
                << errors_in_inbox() << " refusals had arrived "
                << std::chrono::duration_cast<ms>(clock_type::now() - started).count()
                << " ms after the first was published");

        std::size_t done = 0;
        std::size_t refused = 0;
        std::map<std::string, std::size_t> codes;
        std::vector<response_stream> streams;
        for (std::size_t cl = 0; cl < k_clients; ++cl) {
            for (std::size_t r = 0; r < k_per_client; ++r) {
                auto s = c.collect("ov" + std::to_string(cl), "r" + std::to_string(r), 60s);
                INFO(s.summary());
                check_well_formed(s);
                const std::string type = s.last().value("type", std::string());
                if (type == "done") {
                    check_done(s, text);
                    ++done;
                } else {
                    REQUIRE(type == "error");
                    const std::string code = s.last().value("code", std::string());
                    ++codes[code];
                    CHECK((code == "overloaded" || code == "rate_limited"));
                    CHECK(s.last()["retryable"] == true);
                    CHECK(s.count("chunk") == 0);
                    ++refused;
                }
                streams.push_back(std::move(s));
            }
        }
        MESSAGE("done " << done << ", refused " << refused << " (overloaded " << codes["overloaded"]
                        << ", rate_limited " << codes["rate_limited"] << ")");
        CHECK(done + refused == k_clients * k_per_client);
        // At least what the slots and queue hold is served, and at least half is refused.
        CHECK(done >= k_slots + k_queue);
        CHECK(refused >= k_clients * k_per_client / 2);

        // Refusals are quick: every one of them arrived before the last accepted request was
        // done, which is several rounds of the slots later.
        const auto& in = c.inbox();
        std::size_t last_done = 0;
        std::size_t last_refusal = 0;
        for (std::size_t i = 0; i < in.size(); ++i) {
            const std::string type = type_of(in[i]);
            if (type == "done") {
                last_done = i;
            } else if (type == "error") {
                last_refusal = i;
            }
        }
        CHECK(last_refusal < last_done);

        check_peak_rss(st.br.proc(), k_peak_bound_kb);

        // Right after, a request is served normally, and nothing more came for the others.
        check_serving(c, "after", "a1");
        check_still_one_terminal(c, streams);
        CHECK(st.br.proc().running());
    }
}

}  // namespace
}  // namespace llmb::itest
