// Selection of the history that fits into the context (see history_trim.hpp).
#include "daemon/sessions/history_trim.hpp"

#include <vector>

namespace llmb {

namespace {

// tokens(history[i..]) for every i, with one more entry (0) for the empty tail.
std::vector<std::uint64_t> suffix_tokens(std::span<const history_message> history) {
    std::vector<std::uint64_t> sums(history.size() + 1, 0);
    for (std::size_t i = history.size(); i > 0; --i) {
        sums[i - 1] = sums[i] + message_tokens(history[i - 1]);
    }
    return sums;
}

std::uint64_t fixed_tokens(const trim_input& in) {
    return std::uint64_t{in.system_tokens} + in.new_tokens;
}

bool fixed_part_fits(const trim_input& in) {
    return fixed_tokens(in) + in.max_tokens <= in.context_tokens;
}

}  // namespace

std::uint32_t estimate_tokens(std::string_view text) noexcept {
    const std::size_t estimate = (text.size() + 2) / 3 + 4;
    // Messages are bounded by the request size limit long before this matters.
    return estimate > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(estimate);
}

std::uint32_t message_tokens(const history_message& m) noexcept {
    return m.tokens != 0 ? m.tokens : estimate_tokens(m.content);
}

bool starts_turn(const history_message& m) noexcept {
    return m.role != "assistant" && m.role != "tool";
}

trim_result trim_history(const trim_input& in) {
    const std::size_t n = in.history.size();
    trim_result result;
    result.fits = fixed_part_fits(in);
    result.first_kept = n;
    if (result.fits) {
        const auto sums = suffix_tokens(in.history);
        const std::uint64_t budget = in.context_tokens - fixed_tokens(in) - in.max_tokens;
        for (std::size_t i = 0; i < n; ++i) {
            if (starts_turn(in.history[i]) && sums[i] <= budget) {
                result.first_kept = i;
                break;
            }
        }
        result.prompt_tokens = fixed_tokens(in) + sums[result.first_kept];
    } else {
        result.prompt_tokens = fixed_tokens(in);
    }
    return result;
}

trim_result trim_harder(const trim_input& in, std::size_t previous_first_kept) {
    const std::size_t n = in.history.size();
    trim_result result;
    result.fits = fixed_part_fits(in);
    result.first_kept = n;
    const auto sums = suffix_tokens(in.history);
    if (result.fits && previous_first_kept < n) {
        const std::uint64_t allowed = sums[previous_first_kept] / 2;
        // Past the turn that previously started the history: at least that turn goes.
        for (std::size_t i = previous_first_kept + 1; i < n; ++i) {
            if (starts_turn(in.history[i]) && sums[i] <= allowed) {
                result.first_kept = i;
                break;
            }
        }
    }
    result.prompt_tokens = fixed_tokens(in) + sums[result.first_kept];
    return result;
}

}  // namespace llmb
