// Per-client request rate limits: one token bucket per key (the client name within a project).
//
// A bucket holds at most `burst` tokens and refills at `per_second`; every request takes one.
// The bucket is kept as its "theoretical arrival time" (the generic cell rate algorithm, which is
// exactly a token bucket) in integer nanoseconds, so that the answers do not drift with floating
// point rounding: after a refusal, asking again exactly retry_after_ms later succeeds.
// Not thread-safe: one owner (the event loop) calls it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "daemon/config/config.hpp"

namespace llmb {

class rate_limiter {
public:
    using clock = std::chrono::steady_clock;

    // per_second <= 0 (or not finite) means no limit: no bucket is ever kept. A burst below 1
    // counts as 1. A configuration reload constructs a new limiter.
    explicit rate_limiter(const rate_limit_config& cfg);

    // Takes one token from key's bucket (a new key starts with a full bucket). On refusal returns
    // false and sets retry_after_ms to the time until the next token, rounded up (at least 1).
    // On success sets retry_after_ms to 0. Average O(1).
    bool try_acquire(std::string_view key, clock::time_point now, std::uint32_t& retry_after_ms);

    // Forgets the buckets that have refilled completely by `now` (forgetting them changes no
    // answer). Returns how many were removed. O(size()).
    std::size_t prune(clock::time_point now);

    // Buckets currently kept.
    std::size_t size() const noexcept { return buckets_.size(); }
    bool unlimited() const noexcept { return interval_ns_ == 0; }

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };

    // 0: unlimited. Otherwise the time one token takes to come back.
    std::int64_t interval_ns_ = 0;
    // How far ahead of now the arrival time may run: (burst - 1) * interval.
    std::int64_t tolerance_ns_ = 0;
    // Per key: the time at which the bucket is full again, in ns since the clock's epoch.
    std::unordered_map<std::string, std::int64_t, string_hash, std::equal_to<>> buckets_;
};

}  // namespace llmb
