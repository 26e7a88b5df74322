// Building the body of POST /v1/chat/completions from a decoded request.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "request.hpp"

namespace llmb::protocol {

struct upstream_options {
    std::string model;   // model to ask for; omitted from the body when empty
    bool stream = true;  // stream: true with stream_options.include_usage
    // chat_template_kwargs.enable_thinking (llama-server); unset: the server's default.
    std::optional<bool> enable_thinking;
    // llama-server's per-request LoRA choice, a JSON array [{"id":N,"scale":S}]; empty: none.
    std::string lora_json;
};

// Compact JSON body. Messages go as raw_json, sampling fields only when the request set them.
std::string encode_chat_completion(const request& req, const upstream_options& opts);

}  // namespace llmb::protocol
