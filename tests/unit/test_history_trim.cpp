// Selection of the session history that fits the context (daemon/sessions/history_trim.hpp).
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "daemon/sessions/history_trim.hpp"

using llmb::history_message;
using llmb::trim_input;

namespace {

history_message user(std::uint32_t tokens) {
    return {"user", "u", tokens};
}
history_message assistant(std::uint32_t tokens) {
    return {"assistant", "a", tokens};
}
history_message tool(std::uint32_t tokens) {
    return {"tool", "t", tokens};
}

trim_input input(const std::vector<history_message>& h, std::uint32_t system,
                 std::uint32_t new_tokens, std::uint32_t max_tokens, std::uint32_t context) {
    trim_input in;
    in.system_tokens = system;
    in.history = h;
    in.new_tokens = new_tokens;
    in.max_tokens = max_tokens;
    in.context_tokens = context;
    return in;
}

}  // namespace

TEST_CASE("estimate_tokens: a third of a token per byte, rounded up, plus 4 per message") {
    CHECK(llmb::estimate_tokens("") == 4);
    CHECK(llmb::estimate_tokens("a") == 5);
    CHECK(llmb::estimate_tokens("abc") == 5);
    CHECK(llmb::estimate_tokens("abcd") == 6);
    CHECK(llmb::estimate_tokens(std::string(300, 'x')) == 104);
    CHECK(llmb::estimate_tokens("\xe4\xbd\xa0\xe5\xa5\xbd") == 6);  // two CJK characters
    CHECK(llmb::message_tokens({"user", "abcd", 0}) == 6);
    CHECK(llmb::message_tokens({"user", "abcd", 17}) == 17);
}

TEST_CASE("everything fits: all history is kept, up to the exact limit") {
    const std::vector h{user(10), assistant(10), user(10), assistant(10)};
    // 10 system + 40 history + 5 new + 20 answer = 75
    auto r = llmb::trim_history(input(h, 10, 5, 20, 100));
    CHECK(r.fits);
    CHECK(r.first_kept == 0);
    CHECK(r.prompt_tokens == 55);
    r = llmb::trim_history(input(h, 10, 5, 20, 75));
    CHECK(r.first_kept == 0);
    CHECK(r.prompt_tokens == 55);
}

TEST_CASE("the oldest turns go first, whole") {
    const std::vector h{user(10), assistant(10), user(10), assistant(10), user(10), assistant(10)};
    // Budget for history = context - 10 - 5 - 20.
    CHECK(llmb::trim_history(input(h, 10, 5, 20, 95)).first_kept == 0);  // 60 of 60
    auto r = llmb::trim_history(input(h, 10, 5, 20, 94));                // 59: drop a turn
    CHECK(r.first_kept == 2);
    CHECK(r.prompt_tokens == 55);
    // 50 would allow starting at the assistant message (index 1): the cut moves to a turn.
    CHECK(llmb::trim_history(input(h, 10, 5, 20, 85)).first_kept == 2);
    CHECK(llmb::trim_history(input(h, 10, 5, 20, 75)).first_kept == 2);  // exactly 40
    CHECK(llmb::trim_history(input(h, 10, 5, 20, 74)).first_kept == 4);
    CHECK(llmb::trim_history(input(h, 10, 5, 20, 55)).first_kept == 4);
    r = llmb::trim_history(input(h, 10, 5, 20, 54));
    CHECK(r.fits);  // the new message fits, no history does
    CHECK(r.first_kept == 6);
    CHECK(r.prompt_tokens == 15);
}

TEST_CASE("tool results and multi-message replies stay with their turn") {
    // A turn with a tool call: user, assistant (calls), tool, assistant; then a plain turn.
    const std::vector h{user(5), assistant(5), tool(50), assistant(5), user(5), assistant(5)};
    // Budget 65: indexes 2 (65) and 3 (15) would fit, neither starts a turn; index 4 does.
    const auto r = llmb::trim_history(input(h, 0, 0, 0, 65));
    CHECK(r.first_kept == 4);
    CHECK(r.prompt_tokens == 10);
    CHECK(llmb::trim_history(input(h, 0, 0, 0, 75)).first_kept == 0);
}

TEST_CASE("a history that begins with a reply never starts the kept part there") {
    const std::vector h{assistant(10), user(10), assistant(10)};
    const auto r = llmb::trim_history(input(h, 0, 0, 0, 1000));
    CHECK(r.first_kept == 1);
    CHECK(r.prompt_tokens == 20);
}

TEST_CASE("unknown counts are estimated from the content") {
    // 30 bytes -> 14 tokens, 3 bytes -> 5 tokens.
    const std::vector<history_message> h{{"user", std::string(30, 'q'), 0},
                                         {"assistant", std::string(30, 'a'), 0},
                                         {"user", "abc", 0},
                                         {"assistant", "abc", 0}};
    auto r = llmb::trim_history(input(h, 0, 0, 0, 38));
    CHECK(r.first_kept == 0);
    CHECK(r.prompt_tokens == 38);
    r = llmb::trim_history(input(h, 0, 0, 0, 37));
    CHECK(r.first_kept == 2);
    CHECK(r.prompt_tokens == 10);
}

TEST_CASE("nothing fits: reported, and no history is kept") {
    const std::vector h{user(1), assistant(1)};
    auto r = llmb::trim_history(input(h, 50, 40, 20, 100));
    CHECK_FALSE(r.fits);
    CHECK(r.first_kept == 2);
    CHECK(r.prompt_tokens == 90);
    r = llmb::trim_history(input(h, 50, 40, 10, 100));  // exactly full, without history
    CHECK(r.fits);
    CHECK(r.first_kept == 2);
    CHECK_FALSE(llmb::trim_history(input({}, 0, 1, 0, 0)).fits);
    CHECK(llmb::trim_history(input({}, 0, 0, 0, 0)).fits);
}

TEST_CASE("large counts do not wrap around") {
    constexpr auto big = std::numeric_limits<std::uint32_t>::max();
    const std::vector h{user(big), assistant(big)};
    auto r = llmb::trim_history(input(h, big, big, big, big));
    CHECK_FALSE(r.fits);
    CHECK(r.prompt_tokens == 2ULL * big);
    r = llmb::trim_history(input(h, 0, 1, 0, big));
    CHECK(r.fits);
    CHECK(r.first_kept == 2);  // 2 * big history tokens cannot fit
}

TEST_CASE("trim_harder halves the kept history until none is left") {
    const std::vector h{user(10), assistant(10), user(10), assistant(10),
                        user(10), assistant(10), user(10), assistant(10)};
    const auto in = input(h, 7, 3, 0, 1000);
    auto r = llmb::trim_history(in);
    REQUIRE(r.first_kept == 0);  // 80 kept
    r = llmb::trim_harder(in, r.first_kept);
    CHECK(r.first_kept == 4);  // 40
    CHECK(r.prompt_tokens == 50);
    r = llmb::trim_harder(in, r.first_kept);
    CHECK(r.first_kept == 6);  // 20
    r = llmb::trim_harder(in, r.first_kept);
    CHECK(r.first_kept == 8);  // 10 would start at an assistant message: nothing left
    CHECK(r.prompt_tokens == 10);
    CHECK(r.fits);
    r = llmb::trim_harder(in, r.first_kept);
    CHECK(r.first_kept == 8);  // no progress: the caller stops
}

TEST_CASE("trim_harder cuts between turns and keeps at most half") {
    // Kept: 2 + 2 + 100 + 100 = 204, half is 102: without the first turn 200 remain, still more
    // than half, so the big last turn goes too.
    const std::vector h{user(2), assistant(2), user(100), assistant(100)};
    const auto in = input(h, 0, 0, 0, 1000);
    CHECK(llmb::trim_harder(in, 0).first_kept == 4);
    // Small turns at the end: halving keeps them.
    const std::vector h2{user(100), assistant(100), user(2), assistant(2)};
    CHECK(llmb::trim_harder(input(h2, 0, 0, 0, 1000), 0).first_kept == 2);
    // Many small turns, dominated by none: exactly the newest half remains.
    std::vector<history_message> h3;
    for (int i = 0; i < 10; ++i) {
        h3.push_back(user(3));
        h3.push_back(assistant(3));
    }
    CHECK(llmb::trim_harder(input(h3, 0, 0, 0, 1000), 0).first_kept == 10);
    CHECK(llmb::trim_harder(input(h3, 0, 0, 0, 1000), 10).first_kept == 16);
}

TEST_CASE("trim_harder keeps nothing when even the fixed part does not fit") {
    const std::vector h{user(1), assistant(1), user(1), assistant(1)};
    const auto r = llmb::trim_harder(input(h, 60, 60, 0, 100), 0);
    CHECK_FALSE(r.fits);
    CHECK(r.first_kept == 4);
}
