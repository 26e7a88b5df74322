// The two clocks of the server: monotonic for scheduling, realtime for "mock_ts_ns".
#pragma once

#include <time.h>

#include <cstdint>

namespace llmb::mock {

inline std::int64_t clock_ns(clockid_t id) noexcept {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline std::int64_t monotonic_ns() noexcept {
    return clock_ns(CLOCK_MONOTONIC);
}

inline std::int64_t realtime_ns() noexcept {
    return clock_ns(CLOCK_REALTIME);
}

}  // namespace llmb::mock
