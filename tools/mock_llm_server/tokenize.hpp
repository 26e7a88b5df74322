// The mock's tokenizer: one token per whitespace-separated word, the rule by which prompts are
// counted for usage and for the context size. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "chat_request.hpp"

namespace llmb::mock {

// Tokens a chat message costs on top of the words of its content (role and template markers).
inline constexpr std::size_t tokens_per_message = 4;

// Token ids are below this (the vocabulary size the mock pretends to have).
inline constexpr std::uint32_t vocab_size = 151936;

// One id per whitespace-separated word of text, in order; equal words get equal ids.
std::vector<std::uint32_t> tokenize(std::string_view text);

// Prompt tokens of a chat: the words of every message's content plus tokens_per_message each.
std::size_t prompt_token_count(std::span<const chat_message> messages) noexcept;

// The answer to POST /tokenize: {"content":"..."} gives {"tokens":[...]}. A body that is not
// JSON is a 500 (as for chat completions), one without a string "content" a 400.
std::variant<std::string, request_error> tokenize_response(std::string_view body);

}  // namespace llmb::mock
