#include "plan.hpp"

#include <algorithm>
#include <utility>

#include "http_response.hpp"

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

answer make_answer(const chat_request& req, const mock_directives& d, std::uint64_t seed,
                   std::string_view user_text, std::size_t tokens) {
    if (req.has_tools) {
        const std::string_view name =
            req.tool_name.empty() ? std::string_view("tool") : std::string_view(req.tool_name);
        return answer::tools(seed, d.reasoning, name, utf8_prefix(user_text, tool_query_bytes),
                             d.tool_calls);
    }
    if (d.echo) {
        return answer::echo(seed, d.reasoning, std::string(user_text), d.piece);
    }
    if (d.fault == fault_kind::huge) {
        return answer::huge(seed, d.reasoning, tokens);
    }
    return answer::words(seed, d.reasoning, tokens);
}

}  // namespace

std::variant<chat_plan, request_error> make_plan(std::string_view body,
                                                 const plan_defaults& defaults) {
    chat_request req;
    if (auto error = parse_chat_request(body, req)) {
        return std::move(*error);
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
    std::size_t prompt_tokens = 0;
    for (const chat_message& m : req.messages) {
        if (!prompt.empty()) {
            prompt += '\n';
        }
        prompt += m.text;
        prompt_tokens += count_words(m.text);
    }
    const std::string_view user_text =
        last_user != req.messages.rend() ? trim_space(last_user->text) : std::string_view{};

    chat_plan plan(
        make_answer(req, d, prompt_hash(prompt), user_text, d.tokens.value_or(defaults.tokens)));
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
    plan.fault_at = std::min(d.fault_after, plan.reply.size());
    plan.completion_tokens = plan.reply.size() + (d.fault == fault_kind::invalid_utf8 ? 1 : 0);
    plan.ttfb_ns = d.ttfb_ns;
    plan.delay_ns = d.delay_ns.value_or(defaults.delay_ns);
    return plan;
}

}  // namespace llmb::mock
