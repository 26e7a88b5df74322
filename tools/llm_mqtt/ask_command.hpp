// `llm-mqtt ask`: one request over MQTT, its answer streamed to stdout.
#pragma once

#include "ask_options.hpp"
#include "exit_codes.hpp"

namespace llmb::cli {

// Runs the command to its end and returns the exit code.
int run_ask(const ask_options& opt);

}  // namespace llmb::cli
