// Command line of `llm-mqtt ask`: parsing and validation into ask_options, and its usage text.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common_options.hpp"

namespace llmb::cli {

// Values that depend on the environment, decided by the caller so that parsing stays pure.
struct ask_defaults {
    std::string broker;  // LLM_MQTT_BROKER or tcp://127.0.0.1:1883
    std::string client;  // cli-<hostname>-<pid>, sanitized
    std::string id;      // a fresh random id
};

struct ask_options : common_options {
    std::string client;
    std::string id;
    std::optional<std::string> model;
    std::optional<std::string> system;
    std::optional<std::uint32_t> max_packet;
    std::optional<std::uint32_t> max_tokens;
    std::optional<std::uint32_t> flush_ms;
    std::optional<double> temperature;
    std::optional<std::string> tools_file;
    bool stream = true;
    bool json_output = false;
    double timeout_s = 300;
    bool quiet = false;
    bool verbose = false;
    std::string question;  // "-": read it from stdin
};

using ask_parse_result = parse_result<ask_options>;

// args: the words after "ask".
ask_parse_result parse_ask_options(std::span<const std::string_view> args,
                                   const ask_defaults& defaults);

std::string_view ask_usage() noexcept;

}  // namespace llmb::cli
