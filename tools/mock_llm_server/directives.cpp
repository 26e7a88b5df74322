#include "directives.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <utility>

namespace llmb::mock {

namespace {

constexpr std::string_view marker = "#mock";

constexpr std::array<std::pair<fault_kind, std::string_view>, 14> fault_names{{
    {fault_kind::http_500, "http_500"},
    {fault_kind::http_400, "http_400"},
    {fault_kind::http_429, "http_429"},
    {fault_kind::http_503, "http_503"},
    {fault_kind::ctx_exceeded, "ctx_exceeded"},
    {fault_kind::error_event, "error_event"},
    {fault_kind::old_error, "old_error"},
    {fault_kind::reset, "reset"},
    {fault_kind::no_done, "no_done"},
    {fault_kind::stall, "stall"},
    {fault_kind::malformed, "malformed"},
    {fault_kind::invalid_utf8, "invalid_utf8"},
    {fault_kind::huge, "huge"},
    {fault_kind::close_before_headers, "close_before_headers"},
}};

bool is_blank(char c) noexcept {
    return c == ' ' || c == '\t';
}

// The items of a directive line (after the marker), or nullopt when line is not one.
std::optional<std::string_view> directive_items(std::string_view line) {
    while (!line.empty() && is_blank(line.front())) {
        line.remove_prefix(1);
    }
    if (line.substr(0, marker.size()) != marker) {
        return std::nullopt;
    }
    line.remove_prefix(marker.size());
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    if (!line.empty() && !is_blank(line.front())) {
        return std::nullopt;  // "#mockery" is not a directive
    }
    return line;
}

bool parse_number(std::string_view key, std::string_view value, std::uint64_t max,
                  std::uint64_t& out, std::string& error) {
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
    if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || out > max) {
        error = "#mock " + std::string(key) + ": expected a number up to " + std::to_string(max) +
                ", got '" + std::string(value) + "'";
        return false;
    }
    return true;
}

bool apply_item(std::string_view item, mock_directives& d, std::string& error) {
    const std::size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const bool has_value = eq != std::string_view::npos;
    const std::string_view value = has_value ? item.substr(eq + 1) : std::string_view{};
    constexpr std::uint64_t count_max = std::uint64_t{1} << 32;
    constexpr std::uint64_t ms_max = 24ULL * 3600 * 1000;  // a day
    std::uint64_t n = 0;

    if (key == "echo" && !has_value) {
        d.echo = true;
        return true;
    }
    if (key == "echo_all" && !has_value) {
        d.echo_all = true;
        return true;
    }
    if (key == "stamp" && !has_value) {
        d.stamp = true;
        return true;
    }
    if (!has_value) {
        error = "#mock: unknown flag '" + std::string(item) + "'";
        return false;
    }
    if (key == "fault") {
        for (const auto& [kind, name] : fault_names) {
            if (name == value) {
                d.fault = kind;
                return true;
            }
        }
        error = "#mock fault: unknown fault '" + std::string(value) + "'";
        return false;
    }
    if (key == "finish") {
        if (value != "stop" && value != "length") {
            error = "#mock finish: expected stop or length, got '" + std::string(value) + "'";
            return false;
        }
        d.finish = std::string(value);
        return true;
    }
    const bool is_ms = key == "delay_ms" || key == "ttfb_ms";
    const bool is_us = key == "delay_us";
    const bool is_count = key == "tokens" || key == "piece" || key == "reasoning" ||
                          key == "fault_after" || key == "tool_calls";
    if (!is_ms && !is_us && !is_count) {
        error = "#mock: unknown key '" + std::string(key) + "'";
        return false;
    }
    if (!parse_number(key, value,
                      is_count ? count_max
                      : is_ms  ? ms_max
                               : ms_max * 1000,
                      n, error)) {
        return false;
    }
    if (key == "tokens") {
        d.tokens = static_cast<std::size_t>(n);
    } else if (key == "piece") {
        if (n == 0) {
            error = "#mock piece: must be at least 1";
            return false;
        }
        d.piece = static_cast<std::size_t>(n);
    } else if (key == "reasoning") {
        d.reasoning = static_cast<std::size_t>(n);
    } else if (key == "fault_after") {
        d.fault_after = static_cast<std::size_t>(n);
    } else if (key == "tool_calls") {
        d.tool_calls = static_cast<std::size_t>(n);
    } else if (key == "delay_ms") {
        d.delay_ns = static_cast<std::int64_t>(n) * 1'000'000;
    } else if (key == "delay_us") {
        d.delay_ns = static_cast<std::int64_t>(n) * 1'000;
    } else {
        d.ttfb_ns = static_cast<std::int64_t>(n) * 1'000'000;
    }
    return true;
}

bool apply_items(std::string_view items, mock_directives& d, std::string& error) {
    while (!items.empty()) {
        while (!items.empty() && is_blank(items.front())) {
            items.remove_prefix(1);
        }
        std::size_t end = 0;
        while (end < items.size() && !is_blank(items[end])) {
            ++end;
        }
        if (end > 0 && !apply_item(items.substr(0, end), d, error)) {
            return false;
        }
        items.remove_prefix(end);
    }
    return true;
}

}  // namespace

bool extract_directives(std::string& text, mock_directives& d, std::string& error) {
    if (text.find(marker) == std::string::npos) {
        return true;
    }
    std::string kept;
    kept.reserve(text.size());
    std::string_view rest = text;
    while (!rest.empty()) {
        const std::size_t lf = rest.find('\n');
        const std::size_t line_end = lf == std::string_view::npos ? rest.size() : lf + 1;
        const std::string_view line = rest.substr(0, lf);
        if (const auto items = directive_items(line)) {
            if (!apply_items(*items, d, error)) {
                return false;
            }
        } else {
            kept += rest.substr(0, line_end);
        }
        rest.remove_prefix(line_end);
    }
    text = std::move(kept);
    return true;
}

std::string without_directive_lines(std::string_view text) {
    std::string kept;
    if (text.find(marker) == std::string_view::npos) {
        kept.assign(text);
        return kept;
    }
    kept.reserve(text.size());
    while (!text.empty()) {
        const std::size_t lf = text.find('\n');
        const std::size_t line_end = lf == std::string_view::npos ? text.size() : lf + 1;
        if (!directive_items(text.substr(0, lf))) {
            kept += text.substr(0, line_end);
        }
        text.remove_prefix(line_end);
    }
    return kept;
}

std::string_view fault_name(fault_kind f) noexcept {
    for (const auto& [kind, name] : fault_names) {
        if (kind == f) {
            return name;
        }
    }
    return "none";
}

}  // namespace llmb::mock
