// `llm-mqtt watch`: every live response stream under a prefix (or of one client), reassembled
// and printed as it arrives.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common_options.hpp"

namespace llmb::cli {

struct watch_options : common_options {
    std::optional<std::string> client;   // only this client's streams
    std::optional<std::uint64_t> count;  // leave after this many requests ended
    std::optional<double> timeout_s;     // leave after this long
};

using watch_parse_result = parse_result<watch_options>;

// args: the words after "watch".
watch_parse_result parse_watch_options(std::span<const std::string_view> args,
                                       const std::string& default_broker);
std::string_view watch_usage() noexcept;

// Runs until Ctrl-C (exit 0), --count requests ended (0) or --timeout (0 without --count, 3 when
// --count was not reached); 2 when the broker cannot be reached. client_id: the MQTT client id.
int run_watch(const watch_options& opt, const std::string& client_id);

}  // namespace llmb::cli
