// Which part of a session's stored history fits into the model's context with a new request.
//
// Pure selection: the caller gives token counts (or lets them be estimated) and gets back the
// index of the first stored message to send. The oldest turns go first, whole: the kept history
// always starts at a turn (a message that is not an assistant or tool reply), so the
// user/assistant alternation the chat template expects stays intact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace llmb {

// One stored chat message.
struct history_message {
    std::string role;  // user | assistant | tool (the system text is kept apart)
    std::string content;
    std::uint32_t tokens = 0;  // as counted by the server; 0: unknown, estimated from content
};

// An estimate of the tokens `text` takes as one chat message: (bytes + 2) / 3 + 4. A third of a
// token per byte is conservative for English and code (about 4 bytes per token in practice) and
// close for CJK (3 bytes per character, about one token each); the 4 cover the chat template's
// role markers. O(1).
std::uint32_t estimate_tokens(std::string_view text) noexcept;

// The message's own count, or the estimate when it is unknown (0).
std::uint32_t message_tokens(const history_message& m) noexcept;

// True for a message that may start the kept history (anything but assistant and tool).
bool starts_turn(const history_message& m) noexcept;

struct trim_input {
    std::uint32_t system_tokens = 0;           // always sent (0: no system prompt)
    std::span<const history_message> history;  // stored turns, oldest first
    std::uint32_t new_tokens = 0;              // the new message(s) of this request
    std::uint32_t max_tokens = 0;              // room left for the answer
    std::uint32_t context_tokens = 0;          // the model's context size
};

struct trim_result {
    // history[first_kept..] is sent; history.size() when nothing is.
    std::size_t first_kept = 0;
    // Estimated prompt: system + kept history + new.
    std::uint64_t prompt_tokens = 0;
    // False when even system + new + max_tokens exceed the context: nothing can be kept, and the
    // caller either answers with an error or lets the server decide.
    bool fits = true;
};

// Keeps as much recent history as fits: the smallest turn start i with
// system + tokens(history[i..]) + new + max_tokens <= context. O(history.size()).
trim_result trim_history(const trim_input& in);

// For the retry after the server said the prompt was too long (the estimate was too low): keeps
// at most half of the history tokens that history[previous_first_kept..] holds, and at least one
// turn fewer; may keep nothing. Returns first_kept == history.size() once nothing is left, so a
// caller stops when first_kept no longer grows. Keeps nothing when the fixed part does not fit
// (fits == false, as in trim_history). O(history.size()).
trim_result trim_harder(const trim_input& in, std::size_t previous_first_kept);

}  // namespace llmb
