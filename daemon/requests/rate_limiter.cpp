// Token buckets as theoretical arrival times (see rate_limiter.hpp).
#include "daemon/requests/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace llmb {

namespace {

// Intervals are capped so that arrival times stay far away from int64 overflow: a limit slower
// than one request in ~3 years, or a burst that would take longer to refill, is treated as such.
constexpr double max_span_ns = 1e17;

std::int64_t to_ns(rate_limiter::clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::int64_t clamp_span(double ns) {
    return static_cast<std::int64_t>(std::ceil(std::clamp(ns, 1.0, max_span_ns)));
}

}  // namespace

rate_limiter::rate_limiter(const rate_limit_config& cfg) {
    if (!(cfg.per_second > 0.0) || !std::isfinite(cfg.per_second)) {
        return;
    }
    const double burst = std::isfinite(cfg.burst) ? std::max(cfg.burst, 1.0) : 1.0;
    // Rounded up: the limiter never lets more through than configured.
    interval_ns_ = clamp_span(1e9 / cfg.per_second);
    const double tolerance = (burst - 1.0) * static_cast<double>(interval_ns_);
    tolerance_ns_ = tolerance < 1.0 ? 0 : clamp_span(tolerance);
}

bool rate_limiter::try_acquire(std::string_view key, clock::time_point now,
                               std::uint32_t& retry_after_ms) {
    retry_after_ms = 0;
    if (interval_ns_ == 0) {
        return true;
    }
    const std::int64_t t = to_ns(now);
    auto it = buckets_.find(key);
    // A new or refilled bucket behaves as if its arrival time were now.
    const std::int64_t arrival = it == buckets_.end() ? t : std::max(it->second, t);
    const std::int64_t ahead = arrival - t;
    if (ahead > tolerance_ns_) {
        const std::int64_t wait_ns = ahead - tolerance_ns_;
        const std::int64_t ms = (wait_ns + 999'999) / 1'000'000;
        retry_after_ms = static_cast<std::uint32_t>(
            std::min<std::int64_t>(ms, std::numeric_limits<std::uint32_t>::max()));
        return false;
    }
    if (it == buckets_.end()) {
        buckets_.emplace(std::string(key), arrival + interval_ns_);
    } else {
        it->second = arrival + interval_ns_;
    }
    return true;
}

std::size_t rate_limiter::prune(clock::time_point now) {
    const std::int64_t t = to_ns(now);
    return static_cast<std::size_t>(
        std::erase_if(buckets_, [t](const auto& kv) { return kv.second <= t; }));
}

}  // namespace llmb
