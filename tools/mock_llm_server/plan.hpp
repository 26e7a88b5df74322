// Everything a chat completion request decides about its answer, computed once when it arrives:
// body parsing, "#mock" directives, the answer, its timing and its fault. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "answer.hpp"
#include "chat_request.hpp"
#include "directives.hpp"

namespace llmb::mock {

struct plan_defaults {
    std::string model;        // used when the request names none
    std::size_t tokens = 16;  // answer tokens when no tokens=N directive
    std::int64_t delay_ns = 0;
    std::size_t ctx = 0;              // context size; 0: unlimited
    std::vector<std::string> models;  // the models a request may name; empty: any
    // Not empty: the answer instead of the word list, word by word (answer::prose).
    std::string answer_text;
};

// The context size reported by fault=ctx_exceeded when no context size is set.
inline constexpr std::size_t default_fault_ctx = 512;

struct chat_plan {
    explicit chat_plan(answer a) : reply(std::move(a)) {}

    answer reply;
    std::string model;
    bool stream = false;
    bool include_usage = false;
    std::size_t prompt_tokens = 0;
    std::size_t n_ctx = default_fault_ctx;  // reported by the ctx_exceeded error
    std::size_t completion_tokens = 0;      // pieces, plus the injected one of invalid_utf8
    std::string finish_reason;              // stop, length or tool_calls
    fault_kind fault = fault_kind::none;
    std::size_t fault_at = 0;  // pieces sent before a mid-stream fault strikes
    std::int64_t ttfb_ns = 0;
    std::int64_t delay_ns = 0;
    // Every streamed text or reasoning delta starts with "@<CLOCK_REALTIME ns>;", the moment it
    // was written, so that a benchmark can tell how long the delta took to reach a subscriber.
    bool stamp = false;
};

// The plan for body, or the error response to send at once (bad JSON, missing messages, a bad
// directive, a model not in defaults.models). A prompt that does not fit defaults.ctx becomes the
// ctx_exceeded fault, answered like the others after ttfb_ms.
std::variant<chat_plan, request_error> make_plan(std::string_view body,
                                                 const plan_defaults& defaults);

// How many bytes of the prompt a tool call's "query" argument quotes.
inline constexpr std::size_t tool_query_bytes = 40;

}  // namespace llmb::mock
