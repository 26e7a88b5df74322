// The command line: where the config file is, --check-config, and flags that override what the
// file (or the defaults) say.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "daemon/config/config.hpp"

namespace llmb {

struct command_line {
    std::optional<std::string> config_path;  // --config FILE
    bool check_config = false;               // --check-config: validate and exit 0/1

    // Overrides, applied on top of the file at start and at every reload.
    std::optional<std::string> mqtt_url, client_id, llm_url, model, prefix, log_level;
    std::optional<protocol::version_choice> mqtt_version;
    std::optional<std::size_t> max_packet, max_request_bytes, max_in_flight;
    std::optional<std::size_t> resume_request_bytes, resume_total_bytes;
    std::optional<std::uint32_t> resume_ttl_s;
    std::optional<int> qos, text_qos;
    std::optional<std::size_t> max_inflight;
    std::optional<std::uint32_t> session_expiry_s;
    bool no_text_topic = false;
    std::optional<std::chrono::milliseconds> connect_timeout, first_byte_timeout, idle_timeout,
        total_timeout, grace;
};

struct parse_outcome {
    std::optional<command_line> args;  // set when the daemon should go on
    int exit_code = 0;                 // otherwise: exit with this
    std::string output;                // text for stdout (help, version) or stderr (error)
};

parse_outcome parse_command_line(int argc, const char* const* argv);

// The configuration with the command line's overrides applied (--llm replaces the backends
// with one, --model and --prefix apply to the first project), and a default client id.
std::shared_ptr<const config> apply_overrides(const config& base, const command_line& cl);

}  // namespace llmb
