#include "measure.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace llmb::bench {

std::int64_t realtime_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string_view event_type(std::string_view payload) noexcept {
    constexpr std::string_view key = "\"type\":\"";
    const std::size_t at = payload.find(key);
    if (at == std::string_view::npos) {
        return {};
    }
    const std::size_t from = at + key.size();
    const std::size_t end = payload.find('"', from);
    if (end == std::string_view::npos) {
        return {};
    }
    return payload.substr(from, end - from);
}

std::optional<std::size_t> request_index(std::string_view payload) noexcept {
    constexpr std::string_view key = "\"id\":\"r";
    const std::size_t at = payload.find(key);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    std::size_t i = at + key.size();
    std::size_t v = 0;
    const std::size_t first = i;
    while (i < payload.size() && payload[i] >= '0' && payload[i] <= '9' && i - first < 18) {
        v = v * 10 + static_cast<std::size_t>(payload[i] - '0');
        ++i;
    }
    if (i == first || i >= payload.size() || payload[i] != '"') {
        return std::nullopt;
    }
    return v;
}

std::optional<std::size_t> topic_request_index(std::string_view topic) noexcept {
    const std::size_t slash = topic.rfind('/');
    const std::string_view last = slash == std::string_view::npos ? topic : topic.substr(slash + 1);
    if (last.size() < 2 || last.size() > 19 || last[0] != 'r') {
        return std::nullopt;
    }
    std::size_t v = 0;
    for (const char c : last.substr(1)) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        v = v * 10 + static_cast<std::size_t>(c - '0');
    }
    return v;
}

std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, double q) {
    if (sorted.empty()) {
        return 0;
    }
    const double rank = std::ceil(q * static_cast<double>(sorted.size()));
    const std::size_t i = rank < 1 ? 0 : static_cast<std::size_t>(rank) - 1;
    return sorted[std::min(i, sorted.size() - 1)];
}

latency_summary summarize(std::vector<std::int64_t>& samples) {
    latency_summary s;
    s.count = samples.size();
    if (samples.empty()) {
        return s;
    }
    std::sort(samples.begin(), samples.end());
    s.p50_ms = static_cast<double>(nearest_rank(samples, 0.50)) / 1e6;
    s.p99_ms = static_cast<double>(nearest_rank(samples, 0.99)) / 1e6;
    s.max_ms = static_cast<double>(samples.back()) / 1e6;
    return s;
}

double median(std::vector<double> values) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::optional<std::int64_t> process_cpu_ns(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) {
        return std::nullopt;
    }
    // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> fields{std::istream_iterator<std::string>(rest),
                                    std::istream_iterator<std::string>()};
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    if (fields.size() < 13) {
        return std::nullopt;
    }
    const long ticks_per_s = sysconf(_SC_CLK_TCK);
    const std::int64_t ticks = std::stoll(fields[11]) + std::stoll(fields[12]);
    return ticks * (1'000'000'000 / ticks_per_s);
}

}  // namespace llmb::bench
