// Command line of `llm-mqtt ask`: parsing and validation into ask_options, and its usage text.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/packet.hpp"

namespace llmb::cli {

// Values that depend on the environment, decided by the caller so that parsing stays pure.
struct ask_defaults {
    std::string broker;  // LLM_MQTT_BROKER or tcp://127.0.0.1:1883
    std::string client;  // cli-<hostname>-<pid>, sanitized
    std::string id;      // a fresh random id
};

struct ask_options {
    std::string broker;
    std::string prefix = "llm";
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
    protocol::mqtt_version version = protocol::mqtt_version::v5;
    bool quiet = false;
    bool verbose = false;
    std::string question;  // "-": read it from stdin
};

struct ask_parse_result {
    std::optional<ask_options> options;  // set when the command line is usable
    bool help = false;                   // --help was asked for
    std::string error;                   // what is wrong otherwise
};

// args: the words after "ask".
ask_parse_result parse_ask_options(std::span<const std::string_view> args,
                                   const ask_defaults& defaults);

// Replaces every character outside [A-Za-z0-9_.-] by '_' and cuts to 64 characters.
std::string sanitize_name(std::string_view s);

// tcp://host:port from what the user typed (a bare host:port gets tcp://).
std::string normalize_broker_url(std::string_view url);

std::string_view ask_usage() noexcept;

}  // namespace llmb::cli
