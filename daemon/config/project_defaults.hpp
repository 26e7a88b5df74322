// What a project adds to a request: its system prompt, default model and sampling, tools,
// thinking mode and LoRA choice. Pure functions, applied where the request enters.
#pragma once

#include <string>

#include "daemon/config/config.hpp"
#include "protocol/request.hpp"
#include "protocol/upstream_request.hpp"

namespace llmb {

// Fills in what the request leaves out: a system message first when it has none and the
// project has a system prompt (system_override, when set, wins: a session's own system text),
// temperature, top_p, max_tokens and tools.
void apply_project_defaults(protocol::request& req, const project_config& project,
                            const std::string* system_override = nullptr);

// The model to ask for: the request's, else the project's.
std::string model_for(const protocol::request& req, const project_config& project);

// Upstream options for the request under the project (streaming always on).
protocol::upstream_options upstream_options_for(const protocol::request& req,
                                                const project_config& project);

// A chat message built from a role and a text, with its raw JSON.
protocol::chat_message make_message(std::string role, std::string content);

}  // namespace llmb
