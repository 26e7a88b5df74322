// Error codes of the wire protocol and the error value that carries one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmb::protocol {

enum class error_code {
    bad_request,
    too_large,
    rate_limited,
    overloaded,
    upstream_unavailable,
    upstream_error,
    upstream_timeout,
    shutting_down,
    gone,  // a resume of events the bridge does not hold (any more)
    internal,
};

// The code as it appears on the wire ("bad_request", ...).
std::string_view to_string(error_code code) noexcept;

// Whether a client may send the same request again and expect it to work, as far as the code
// tells.
bool is_retryable(error_code code) noexcept;

struct error {
    error_code code = error_code::internal;
    std::string message;  // plain words: what went wrong and what to do; never secrets
    std::optional<std::uint32_t> retry_after_ms;
    // Set where this error knows better than its code: an LLM server that refused the request
    // itself (HTTP 4xx) will refuse it again, though upstream errors are mostly passing.
    std::optional<bool> retryable = std::nullopt;
};

// The retryable an error event carries: the error's own, else its code's.
bool is_retryable(const error& err) noexcept;

}  // namespace llmb::protocol
