#include "plan.hpp"

#include <algorithm>
#include <utility>

#include "http_response.hpp"
#include "tokenize.hpp"

namespace llmb::mock {

namespace {

std::string_view trim_space(std::string_view s) noexcept {
    constexpr std::string_view space = " \t\r\n\f\v";
    const std::size_t first = s.find_first_not_of(space);
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(space) - first + 1);
}

// echo_all: "role:content" of every message, directive lines removed and trimmed, joined by '|'.
std::string history_text(const chat_request& req) {
    std::string text;
    for (const chat_message& m : req.messages) {
        if (!text.empty()) {
            text += '|';
        }
        text += m.role;
        text += ':';
        text += trim_space(without_directive_lines(m.text));
    }
    return text;
}

answer make_answer(const chat_request& req, const mock_directives& d, std::uint64_t seed,
                   std::string_view user_text, std::size_t tokens, const std::string& text) {
    if (req.has_tools) {
        const std::string_view name =
            req.tool_name.empty() ? std::string_view("tool") : std::string_view(req.tool_name);
        return answer::tools(seed, d.reasoning, name, utf8_prefix(user_text, tool_query_bytes),
                             d.tool_calls);
    }
    if (d.echo_all) {
        return answer::echo(seed, d.reasoning, history_text(req), d.piece);
    }
    if (d.echo) {
        return answer::echo(seed, d.reasoning, std::string(user_text), d.piece);
    }
    if (d.fault == fault_kind::huge) {
        return answer::huge(seed, d.reasoning, tokens);
    }
    if (!text.empty() && !d.tokens) {
        return answer::prose(seed, d.reasoning, text);
    }
    return answer::words(seed, d.reasoning, tokens);
}

bool known_model(const chat_request& req, const plan_defaults& defaults) {
    return defaults.models.empty() || !req.model ||
           std::find(defaults.models.begin(), defaults.models.end(), *req.model) !=
               defaults.models.end();
}

}  // namespace

std::variant<chat_plan, request_error> make_plan(std::string_view body,
                                                 const plan_defaults& defaults) {
    chat_request req;
    if (auto error = parse_chat_request(body, req)) {
        return std::move(*error);
    }
    if (!known_model(req, defaults)) {
        return request_error{
            404, error_body(404, "model '" + *req.model + "' not found", "not_found_error")};
    }

    mock_directives d;
    const auto last_user = std::find_if(req.messages.rbegin(), req.messages.rend(),
                                        [](const chat_message& m) { return m.role == "user"; });
    if (last_user != req.messages.rend()) {
        std::string error;
        if (!extract_directives(last_user->text, d, error)) {
            return request_error{400, error_body(400, error, "invalid_request_error")};
        }
    }

    std::string prompt;
    for (const chat_message& m : req.messages) {
        if (!prompt.empty()) {
            prompt += '\n';
        }
        prompt += m.text;
    }
    const std::size_t prompt_tokens = prompt_token_count(req.messages);
    const std::string_view user_text =
        last_user != req.messages.rend() ? trim_space(last_user->text) : std::string_view{};

    chat_plan plan(make_answer(req, d, prompt_hash(prompt), user_text,
                               d.tokens.value_or(defaults.tokens), defaults.answer_text));
    plan.model = req.model.value_or(defaults.model);
    plan.stream = req.stream;
    plan.include_usage = req.include_usage;
    plan.prompt_tokens = prompt_tokens;
    plan.finish_reason = req.has_tools ? "tool_calls" : "stop";
    if (!req.has_tools && req.max_tokens && plan.reply.truncate(*req.max_tokens)) {
        plan.finish_reason = "length";
    }
    if (d.finish) {
        plan.finish_reason = *d.finish;
    }
    plan.fault = d.fault;
    if (defaults.ctx > 0) {
        plan.n_ctx = defaults.ctx;
        if (prompt_tokens + req.max_tokens.value_or(0) > defaults.ctx) {
            plan.fault = fault_kind::ctx_exceeded;  // refused before anything is generated
        }
    }
    plan.fault_at = std::min(d.fault_after, plan.reply.size());
    plan.completion_tokens = plan.reply.size() + (d.fault == fault_kind::invalid_utf8 ? 1 : 0);
    plan.ttfb_ns = d.ttfb_ns;
    plan.delay_ns = d.delay_ns.value_or(defaults.delay_ns);
    plan.stamp = d.stamp;
    return plan;
}

}  // namespace llmb::mock
