// Error codes: their wire spelling and whether a client may retry.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "protocol/error.hpp"

namespace p = llmb::protocol;

TEST_CASE("error codes are spelled as the protocol says and retryable where it helps") {
    using enum p::error_code;
    const std::vector<std::pair<p::error_code, std::pair<const char*, bool>>> codes = {
        {bad_request, {"bad_request", false}},
        {too_large, {"too_large", false}},
        {rate_limited, {"rate_limited", true}},
        {overloaded, {"overloaded", true}},
        {upstream_unavailable, {"upstream_unavailable", true}},
        {upstream_error, {"upstream_error", true}},
        {upstream_timeout, {"upstream_timeout", true}},
        {shutting_down, {"shutting_down", true}},
        {gone, {"gone", false}},
        {internal, {"internal", false}},
    };
    std::set<std::string> seen;
    for (const auto& [code, expected] : codes) {
        INFO("code " << expected.first);
        CHECK(p::to_string(code) == expected.first);
        CHECK(p::is_retryable(code) == expected.second);
        seen.insert(std::string(p::to_string(code)));
    }
    CHECK(seen.size() == codes.size());
}

TEST_CASE("an error value defaults to internal without retry_after") {
    const p::error e;
    CHECK(e.code == p::error_code::internal);
    CHECK(e.message.empty());
    CHECK_FALSE(e.retry_after_ms.has_value());
}
