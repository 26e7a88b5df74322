// Exit codes of the llm-mqtt commands.
#pragma once

namespace llmb::cli::exit_code {

constexpr int done = 0;
constexpr int error_event = 1;  // ask: the answer was an error event; stats: no metrics
constexpr int usage = 2;        // also: the broker cannot be reached or refuses us
constexpr int protocol = 3;     // protocol violation or timeout
constexpr int cancelled = 130;

}  // namespace llmb::cli::exit_code
