// Everything an operator sets, in one struct (the config file of a later version fills the
// same struct; command-line flags override it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "protocol/packet.hpp"
#include "protocol/request.hpp"

namespace llmb {

struct bridge_options {
    // MQTT
    std::string mqtt_uri = "tcp://127.0.0.1:1883";
    std::string client_id;  // default: llm-mqtt-bridge-<host>-<pid>
    protocol::mqtt_version mqtt_version = protocol::mqtt_version::v5;
    std::string prefix = "llm";
    std::size_t max_packet = 268435455;  // configured cap on every PUBLISH packet
    int qos = 1;                         // of response events
    bool text_topic = true;              // publish raw text on {prefix}/text/{client}/{id}
    int keep_alive_s = 30;

    // LLM server
    std::string llm_url = "http://127.0.0.1:8080";
    std::string model;  // asked for when a request names none
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds first_byte_timeout{120000};
    std::chrono::milliseconds idle_timeout{60000};
    std::chrono::milliseconds total_timeout{600000};

    // Limits
    protocol::request_limits limits;
    std::size_t max_in_flight = 4096;  // requests at once, all clients; beyond: overloaded

    // Process
    std::chrono::milliseconds grace{10000};
    spdlog::level::level_enum log_level = spdlog::level::info;
};

struct parse_outcome {
    std::optional<bridge_options> options;  // set when the daemon should run
    int exit_code = 0;                      // otherwise: exit with this
    std::string output;                     // text for stdout (help, version) or stderr (error)
};

parse_outcome parse_command_line(int argc, const char* const* argv);

}  // namespace llmb
