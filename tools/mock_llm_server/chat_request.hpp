// The body of POST /v1/chat/completions, turned into a typed value where it enters.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmb::mock {

struct chat_message {
    std::string role;
    std::string text;  // string content, or the text parts of a content array joined by '\n'
};

struct chat_request {
    std::optional<std::string> model;
    std::vector<chat_message> messages;
    bool stream = false;
    bool include_usage = false;             // stream_options.include_usage
    std::optional<std::size_t> max_tokens;  // max_tokens, or else max_completion_tokens
    bool has_tools = false;                 // a non-empty "tools" array
    std::string tool_name;                  // function.name of the first tool
};

// Why a body was refused, as llama-server answers it.
struct request_error {
    int status = 0;
    std::string body;
};

// Parses body. Invalid JSON is a 500 carrying the parser's message (llama-server does this);
// a missing or non-array "messages" is a 400 invalid_request_error.
std::optional<request_error> parse_chat_request(std::string_view body, chat_request& out);

}  // namespace llmb::mock
