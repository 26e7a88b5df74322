// `llm-mqtt ask`: one request over MQTT, its answer streamed to stdout.
#pragma once

#include "ask_options.hpp"

namespace llmb::cli {

// Exit codes of the command.
namespace exit_code {
constexpr int done = 0;
constexpr int error_event = 1;
constexpr int usage = 2;     // also: the broker cannot be reached or refuses us
constexpr int protocol = 3;  // protocol violation or timeout
constexpr int cancelled = 130;
}  // namespace exit_code

// Runs the command to its end and returns the exit code.
int run_ask(const ask_options& opt);

}  // namespace llmb::cli
