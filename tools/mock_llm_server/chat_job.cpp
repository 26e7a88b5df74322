#include "chat_job.hpp"

#include <array>
#include <utility>

#include "clock.hpp"
#include "http_response.hpp"

namespace llmb::mock {

namespace {

constexpr std::string_view invalid_utf8_bytes = "\xff\xfe";

bool strikes_mid_stream(fault_kind f) noexcept {
    switch (f) {
        case fault_kind::error_event:
        case fault_kind::old_error:
        case fault_kind::reset:
        case fault_kind::no_done:
        case fault_kind::stall:
        case fault_kind::malformed:
        case fault_kind::invalid_utf8:
            return true;
        default:
            return false;
    }
}

job_action act(job_action::kind k, std::int64_t deadline_ns = 0) {
    return job_action{k, deadline_ns};
}

// Faults answered without generating anything: no time is spent on the answer's tokens.
bool refuses_at_once(fault_kind f) noexcept {
    switch (f) {
        case fault_kind::http_500:
        case fault_kind::http_400:
        case fault_kind::http_429:
        case fault_kind::http_503:
        case fault_kind::ctx_exceeded:
        case fault_kind::close_before_headers:
            return true;
        default:
            return false;
    }
}

// Byte for byte what llama-server answers when the prompt does not fit its context.
std::string ctx_exceeded_body(std::size_t prompt_tokens, std::size_t n_ctx) {
    std::string body = R"({"error":{"code":400,"message":"request ()";
    append_uint(body, prompt_tokens);
    body += " tokens) exceeds the available context size (";
    append_uint(body, n_ctx);
    body += R"( tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":)";
    append_uint(body, prompt_tokens);
    body += R"(,"n_ctx":)";
    append_uint(body, n_ctx);
    body += "}}";
    return body;
}

double to_ms(std::int64_t ns) noexcept {
    return static_cast<double>(ns) / 1e6;
}

}  // namespace

chat_job::chat_job(chat_plan plan, completion_meta meta, bool keep_alive, std::int64_t start_ns)
    : plan_(std::move(plan)),
      meta_(std::move(meta)),
      format_(meta_),
      keep_alive_(keep_alive),
      start_ns_(start_ns),
      fault_pending_(plan_.stream && strikes_mid_stream(plan_.fault)) {}

job_action chat_job::advance(std::string& out, std::int64_t now_ns) {
    job_action action;
    switch (phase_) {
        case phase::waiting: {
            std::int64_t due = start_ns_ + plan_.ttfb_ns;
            if (!plan_.stream && !refuses_at_once(plan_.fault)) {
                // the time the model would take to generate the whole answer
                due += plan_.delay_ns * static_cast<std::int64_t>(plan_.reply.size());
            }
            if (now_ns < due) {
                return act(job_action::kind::wait_until, due);
            }
            return respond(out, now_ns);
        }
        case phase::streaming:
            if (plan_.delay_ns == 0) {
                while (out.size() < batch_bytes) {
                    if (step(out, now_ns, action)) {
                        return action;
                    }
                }
                return act(job_action::kind::run_again);
            }
            if (now_ns < next_ns_) {
                return act(job_action::kind::wait_until, next_ns_);
            }
            if (step(out, now_ns, action)) {
                return action;
            }
            next_ns_ += plan_.delay_ns;
            return act(job_action::kind::wait_until, next_ns_);
        case phase::stalled:
            return act(job_action::kind::stall);
        case phase::ended:
            break;
    }
    return act(job_action::kind::finished);
}

job_action chat_job::respond(std::string& out, std::int64_t now_ns) {
    const auto error = [&](int status, std::string_view message, std::string_view type) {
        append_response(out, status, json_type, error_body(status, message, type), keep_alive_);
        phase_ = phase::ended;
        return act(job_action::kind::finished);
    };
    switch (plan_.fault) {
        case fault_kind::http_500:
            return error(500, "mock internal server error", "server_error");
        case fault_kind::http_400:
            return error(400, "mock invalid request", "invalid_request_error");
        case fault_kind::http_429: {
            const std::array<header, 1> retry{{{"Retry-After", "2"}}};
            append_response(out, 429, json_type,
                            error_body(429, "mock rate limit exceeded", "rate_limit_error"),
                            keep_alive_, retry);
            phase_ = phase::ended;
            return act(job_action::kind::finished);
        }
        case fault_kind::http_503:
            return error(503, "mock service unavailable", "unavailable_error");
        case fault_kind::ctx_exceeded:
            append_response(out, 400, json_type,
                            ctx_exceeded_body(plan_.prompt_tokens, plan_.n_ctx), keep_alive_);
            phase_ = phase::ended;
            return act(job_action::kind::finished);
        case fault_kind::close_before_headers:
            phase_ = phase::ended;
            return act(job_action::kind::close);
        default:
            break;
    }
    return plan_.stream ? begin_stream(out, now_ns) : respond_whole(out, now_ns);
}

job_action chat_job::respond_whole(std::string& out, std::int64_t now_ns) {
    phase_ = phase::ended;
    switch (plan_.fault) {
        case fault_kind::reset:
            return act(job_action::kind::reset);
        case fault_kind::stall:
            phase_ = phase::stalled;
            return act(job_action::kind::stall);
        case fault_kind::error_event:
        case fault_kind::old_error: {
            const std::string_view message = plan_.fault == fault_kind::error_event
                                                 ? "mock error mid-stream"
                                                 : "mock old-style error";
            append_response(out, 500, json_type, error_body(500, message, "server_error"),
                            keep_alive_);
            return act(job_action::kind::finished);
        }
        case fault_kind::malformed:
            append_response(out, 200, json_type, "{not json", keep_alive_);
            return act(job_action::kind::finished);
        default:
            break;
    }
    const std::string content = plan_.reply.content();
    const std::string reasoning = plan_.reply.reasoning();
    whole_message msg{content, reasoning, plan_.reply.tool_calls(), {}, 0};
    if (plan_.fault == fault_kind::invalid_utf8) {
        msg.raw = invalid_utf8_bytes;
        for (std::size_t i = 0; i < plan_.fault_at; ++i) {
            const piece p = plan_.reply.at(i);
            if (p.kind == piece_kind::content) {
                msg.raw_at += p.text.size();
            }
        }
    }
    const usage_counts usage{plan_.prompt_tokens, plan_.completion_tokens};
    timings t{plan_.prompt_tokens, 0.0, plan_.completion_tokens, to_ms(now_ns - start_ns_)};
    const std::string body =
        whole_completion(meta_, msg, plan_.finish_reason, usage, t, realtime_ns());
    if (plan_.fault == fault_kind::no_done) {  // the body breaks off halfway, then FIN
        append_head(out, 200, json_type, body.size(), keep_alive_);
        out += std::string_view(body).substr(0, body.size() / 2);
        return act(job_action::kind::close);
    }
    append_response(out, 200, json_type, body, keep_alive_);
    return act(job_action::kind::finished);
}

job_action chat_job::begin_stream(std::string& out, std::int64_t now_ns) {
    append_event_stream_head(out, keep_alive_);
    stream_start_ns_ = now_ns;
    event_.clear();
    format_.role(event_, realtime_ns());
    append_chunk(out, event_);
    phase_ = phase::streaming;
    if (plan_.delay_ns == 0) {
        return act(job_action::kind::run_again);
    }
    next_ns_ = now_ns + plan_.delay_ns;
    return act(job_action::kind::wait_until, next_ns_);
}

bool chat_job::step(std::string& out, std::int64_t now_ns, job_action& action) {
    if (fault_pending_ && next_ == plan_.fault_at) {
        fault_pending_ = false;
        return strike_fault(out, action);
    }
    if (next_ < plan_.reply.size()) {
        const piece p = plan_.reply.at(next_++);
        event_.clear();
        switch (p.kind) {
            case piece_kind::reasoning:
            case piece_kind::content: {
                const std::int64_t now = realtime_ns();
                if (plan_.stamp) {
                    stamped_ = "@" + std::to_string(now) + ";";
                    stamped_.append(p.text);
                    format_.text(event_, p.kind, stamped_, now);
                } else {
                    format_.text(event_, p.kind, p.text, now);
                }
                break;
            }
            case piece_kind::tool_open:
                format_.tool_open(event_, p.tool_index, plan_.reply.tool_calls()[p.tool_index],
                                  p.text, realtime_ns());
                break;
            case piece_kind::tool_args:
                format_.tool_arguments(event_, p.tool_index, p.text, realtime_ns());
                break;
        }
        append_chunk(out, event_);
        return false;
    }
    end_stream(out, now_ns);
    action = act(job_action::kind::finished);
    return true;
}

bool chat_job::strike_fault(std::string& out, job_action& action) {
    phase_ = phase::ended;
    action = act(job_action::kind::finished);
    switch (plan_.fault) {
        case fault_kind::error_event:
            append_chunk(out, mid_stream_error_event);
            append_last_chunk(out);
            return true;
        case fault_kind::old_error:
            append_chunk(out, old_error_line);
            append_chunk(out, done_event);
            append_last_chunk(out);
            return true;
        case fault_kind::reset:
            action = act(job_action::kind::reset);
            return true;
        case fault_kind::no_done:
            append_last_chunk(out);
            return true;
        case fault_kind::stall:
            phase_ = phase::stalled;
            action = act(job_action::kind::stall);
            return true;
        case fault_kind::malformed:
            append_chunk(out, malformed_event);
            break;
        case fault_kind::invalid_utf8:
            event_.clear();
            format_.raw_content(event_, invalid_utf8_bytes, realtime_ns());
            append_chunk(out, event_);
            break;
        default:
            break;
    }
    phase_ = phase::streaming;  // the stream goes on after these
    return false;
}

void chat_job::end_stream(std::string& out, std::int64_t now_ns) {
    const timings t = make_timings(now_ns);
    event_.clear();
    format_.finish(event_, plan_.finish_reason, plan_.include_usage ? nullptr : &t, realtime_ns());
    append_chunk(out, event_);
    if (plan_.include_usage) {
        event_.clear();
        format_.usage(event_, usage_counts{plan_.prompt_tokens, plan_.completion_tokens}, t,
                      realtime_ns());
        append_chunk(out, event_);
    }
    append_chunk(out, done_event);
    append_last_chunk(out);
    phase_ = phase::ended;
}

timings chat_job::make_timings(std::int64_t now_ns) const {
    return timings{plan_.prompt_tokens, to_ms(stream_start_ns_ - start_ns_),
                   plan_.completion_tokens, to_ms(now_ns - stream_start_ns_)};
}

}  // namespace llmb::mock
