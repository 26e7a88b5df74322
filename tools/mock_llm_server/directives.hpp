// "#mock" directive lines, by which a test steers the answer to one request. Pure.
//
// Any line of the last user message that starts with "#mock" (after optional spaces or tabs)
// holds space-separated items `key=value` or `flag`; such lines are removed from the prompt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmb::mock {

enum class fault_kind {
    none,
    http_500,
    http_400,
    http_429,
    http_503,
    ctx_exceeded,
    error_event,
    old_error,
    reset,
    no_done,
    stall,
    malformed,
    invalid_utf8,
    huge,
    close_before_headers,
};

struct mock_directives {
    std::optional<std::size_t> tokens;     // tokens=N
    std::optional<std::int64_t> delay_ns;  // delay_us=N or delay_ms=N (the last one given)
    std::int64_t ttfb_ns = 0;              // ttfb_ms=N
    bool echo = false;                     // echo
    bool echo_all = false;                 // echo_all
    std::size_t piece = 4;                 // piece=N (echo piece size in bytes)
    std::size_t reasoning = 0;             // reasoning=N
    std::optional<std::string> finish;     // finish=stop|length
    fault_kind fault = fault_kind::none;   // fault=F
    std::size_t fault_after = 2;           // fault_after=N
    std::size_t tool_calls = 1;            // tool_calls=N
    bool stamp = false;                    // stamp: text deltas start with "@<ns>;"
};

// Removes the directive lines from text and applies their items to d. Returns false with a
// one-line reason in error for an unknown key or flag or a bad value.
bool extract_directives(std::string& text, mock_directives& d, std::string& error);

// text without its directive lines, which are not applied (for the history of echo_all).
std::string without_directive_lines(std::string_view text);

// The name a fault has in a directive ("http_500", ...).
std::string_view fault_name(fault_kind f) noexcept;

}  // namespace llmb::mock
