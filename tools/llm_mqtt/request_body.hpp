// The JSON request `llm-mqtt ask` publishes on {prefix}/request/{client}.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ask_options.hpp"

namespace llmb::cli {

// Reads a tools file: a JSON array of OpenAI tools. Throws std::runtime_error saying what is
// wrong with it.
nlohmann::json read_tools_file(const std::string& path);

// The request payload: id, messages (the system message first when given, then the question
// as a user message), and the optional fields the options set.
std::string build_request(const ask_options& opt, std::string_view question,
                          const std::optional<nlohmann::json>& tools);

}  // namespace llmb::cli
