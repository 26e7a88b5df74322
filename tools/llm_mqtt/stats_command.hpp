// `llm-mqtt stats`: reads the bridges' retained metrics messages and prints them as a table
// (or as they are, one JSON line each).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common_options.hpp"

namespace llmb::cli {

struct stats_options : common_options {
    std::optional<std::string> topic;  // else {prefix}/metrics and {prefix}/metrics/+
    bool json_output = false;
    double timeout_s = 3;
};

using stats_parse_result = parse_result<stats_options>;

// args: the words after "stats".
stats_parse_result parse_stats_options(std::span<const std::string_view> args,
                                       const std::string& default_broker);
std::string_view stats_usage() noexcept;

// One metrics message as a table of labelled lines; now_s (Unix time) dates it.
std::string format_metrics(const std::string& topic, const nlohmann::json& m, std::int64_t now_s);

// Prints what arrives; 0 with at least one message, 1 when none came within the timeout, 2 when
// the broker cannot be reached.
int run_stats(const stats_options& opt, const std::string& client_id);

}  // namespace llmb::cli
