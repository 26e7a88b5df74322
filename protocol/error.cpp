#include "protocol/error.hpp"

namespace llmb::protocol {

std::string_view to_string(error_code code) noexcept {
    switch (code) {
        case error_code::bad_request:
            return "bad_request";
        case error_code::too_large:
            return "too_large";
        case error_code::rate_limited:
            return "rate_limited";
        case error_code::overloaded:
            return "overloaded";
        case error_code::upstream_unavailable:
            return "upstream_unavailable";
        case error_code::upstream_error:
            return "upstream_error";
        case error_code::upstream_timeout:
            return "upstream_timeout";
        case error_code::shutting_down:
            return "shutting_down";
        case error_code::gone:
            return "gone";
        case error_code::internal:
            return "internal";
    }
    return "internal";
}

bool is_retryable(const error& err) noexcept {
    return err.retryable.value_or(is_retryable(err.code));
}

bool is_retryable(error_code code) noexcept {
    switch (code) {
        case error_code::rate_limited:
        case error_code::overloaded:
        case error_code::upstream_unavailable:
        case error_code::upstream_error:
        case error_code::upstream_timeout:
        case error_code::shutting_down:
            return true;
        case error_code::bad_request:
        case error_code::too_large:
        case error_code::gone:
        case error_code::internal:
            return false;
    }
    return false;
}

}  // namespace llmb::protocol
