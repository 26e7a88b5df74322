// JSON string escaping with exact size arithmetic, shared by the envelope encoder and the
// splitter so that what is measured is exactly what is sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace llmb::protocol {

// Appends s as a quoted JSON string. Control characters, '"' and '\\' are escaped; bytes that
// are not valid UTF-8 are replaced by U+FFFD. Everything else is copied as is (no \u for
// non-ASCII), so the output is valid UTF-8.
void append_json_string(std::string& out, std::string_view s);

// Size in bytes of what append_json_string appends for s, quotes included.
std::size_t json_string_size(std::string_view s) noexcept;

// Length of the UTF-8 sequence that starts s (1..4), or 0 when s does not start with a valid
// sequence (invalid lead byte, truncated, overlong, surrogate or > U+10FFFF). s must not be empty.
std::size_t utf8_sequence_length(std::string_view s) noexcept;

// Escaped size (no quotes) of the character that starts s, given its sequence length n
// (n == 0: an invalid byte, escaped as U+FFFD, 3 bytes).
std::size_t escaped_char_size(std::string_view s, std::size_t n) noexcept;

// True when all of s is valid UTF-8.
bool valid_utf8(std::string_view s) noexcept;

// True when arrays and objects in the JSON text nest deeper than limit (strings skipped).
// Checked before parsing untrusted text, so that deep documents never reach the recursive
// parts of a JSON library and exhaust the stack.
bool json_nested_deeper_than(std::string_view text, std::size_t limit) noexcept;

// Decimal digits of v (1 for 0).
std::size_t decimal_digits(std::uint64_t v) noexcept;

}  // namespace llmb::protocol
