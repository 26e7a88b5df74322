#include "daemon/requests/request_stream.hpp"

#include <algorithm>

#include "daemon/config/project_defaults.hpp"
#include "daemon/service/log.hpp"
#include "daemon/upstream/upstream_error.hpp"

namespace llmb {

namespace {

std::uint64_t ms_between(std::chrono::steady_clock::time_point a,
                         std::chrono::steady_clock::time_point b) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
    return ms > 0 ? static_cast<std::uint64_t>(ms) : 0;
}

protocol::error split_failed() {
    return {protocol::error_code::internal, "the answer cannot be split to fit the packet limit",
            std::nullopt};
}

}  // namespace

request_stream::request_stream(stream_services& services, std::shared_ptr<const config> cfg,
                               const project_config& project, std::string client,
                               protocol::request req, event_sender sender,
                               finished_handler on_finished)
    : svc_(services),
      cfg_(std::move(cfg)),
      project_(project),
      client_(std::move(client)),
      req_(std::move(req)),
      sender_(std::move(sender)),
      on_finished_(std::move(on_finished)),
      accepted_(clock::now()),
      last_data_(accepted_) {}

request_stream::~request_stream() {
    if (!finished_) {
        on_finished_ = nullptr;  // the owner is destroying us: do not call back
        finish_error({protocol::error_code::internal,
                      "the bridge dropped this request before it finished; send it again",
                      std::nullopt});
    }
    stop_transfer();
}

std::string request_stream::effective_model() const {
    return model_for(req_, project_);
}

void request_stream::attach_session(session_turn turn, turn_handler on_turn) {
    session_ = std::move(turn);
    on_turn_ = std::move(on_turn);
}

void request_stream::begin() {
    const std::string model = effective_model();
    sender_.send("start", [&](std::uint64_t seq) {
        return protocol::encode_start(
            req_.id, seq, model, req_.whole_mode(), req_.session,
            cfg_->cluster.group.empty() ? std::string() : cluster_bridge_id(*cfg_));
    });
    arm_watchdog();
    choose_backend();
}

void request_stream::cancel() {
    if (finished_)
        return;
    finish_done("cancelled", outcome::cancelled);
}

void request_stream::fail(protocol::error err) {
    if (finished_)
        return;
    finish_error(std::move(err));
}

void request_stream::handle_event(const protocol::sse_event& ev) {
    const auto d = protocol::decode_stream_event(ev);
    if (d.error) {
        finish_error(upstream_errors::reported(*d.error));
        return;
    }
    if (d.malformed) {
        finish_error(upstream_errors::unreadable_event(*d.malformed));
        return;
    }
    if (!d.model.empty())
        upstream_model_ = d.model;
    if (!d.reasoning.empty())
        handle_text(d.reasoning, true);
    if (finished_)
        return;
    if (!d.content.empty())
        handle_text(d.content, false);
    if (finished_)
        return;
    if (!d.tool_calls.empty())
        tools_.add(d.tool_calls);
    if (d.finish_reason)
        finish_reason_ = d.finish_reason;
    if (d.usage)
        usage_ = d.usage;
    if (d.done)
        finish_done(finish_reason_.value_or("stop"));
}

void request_stream::handle_text(std::string_view text, bool reasoning) {
    if (!first_token_)
        first_token_ = clock::now();
    if (session_ && !reasoning)
        answer_.append(text);
    if (req_.whole_mode()) {
        (reasoning ? whole_reasoning_ : whole_text_).append(text);
        return;
    }
    if (req_.flush_ms == 0) {
        if (!sender_.send_text(text, reasoning, chunks_)) {
            finish_error(split_failed());
            return;
        }
        if (!reasoning)
            bytes_ += text.size();
        return;
    }
    // Coalescing: text of one kind is held for up to flush_ms; a change of kind flushes.
    auto& other = reasoning ? pending_text_ : pending_reasoning_;
    if (!other.empty())
        flush_pending();
    (reasoning ? pending_reasoning_ : pending_text_).append(text);
    if (flush_timer_ == 0) {
        flush_timer_ = svc_.loop.add_timer(std::chrono::milliseconds(req_.flush_ms), [this] {
            flush_timer_ = 0;
            flush_pending();
        });
    }
}

void request_stream::flush_pending() {
    if (flush_timer_ != 0) {
        svc_.loop.cancel_timer(flush_timer_);
        flush_timer_ = 0;
    }
    bool ok = true;
    if (!pending_reasoning_.empty()) {
        ok = sender_.send_text(pending_reasoning_, true, chunks_) && ok;
        pending_reasoning_.clear();
    }
    if (!pending_text_.empty()) {
        ok = sender_.send_text(pending_text_, false, chunks_) && ok;
        bytes_ += pending_text_.size();
        pending_text_.clear();
    }
    if (!ok && !finished_) {
        finish_error(split_failed());
    }
}

void request_stream::finish_done(std::string finish_reason, outcome how) {
    if (finished_)
        return;
    const bool cancelled = how == outcome::cancelled;
    flush_pending();
    if (finished_)
        return;
    if (!cancelled) {
        bool ok = true;
        if (req_.whole_mode()) {
            ok = sender_.send_text(whole_reasoning_, true, chunks_);
            ok = sender_.send_text(whole_text_, false, chunks_) && ok;
            bytes_ += whole_text_.size();
        }
        if (tool_calls_json_.empty() && !tools_.empty())
            tool_calls_json_ = tools_.to_json();
        if (ok && !tool_calls_json_.empty()) {
            ok = sender_.send("tool_calls", [&](std::uint64_t seq) {
                return protocol::encode_tool_calls(req_.id, seq, tool_calls_json_);
            });
        }
        if (!ok) {
            finish_error(split_failed());
            return;
        }
        const bool answered =
            finish_reason == "stop" || finish_reason == "length" || finish_reason == "tool_calls";
        if (session_ && on_turn_ && answered)
            on_turn_(*session_, answer_, usage_);
    }
    const auto now = clock::now();
    protocol::done_info info;
    info.finish_reason = std::move(finish_reason);
    info.usage = usage_;
    info.chunks = chunks_;
    info.bytes = bytes_;
    info.duration_ms = ms_between(accepted_, now);
    if (first_token_)
        info.ttft_ms = ms_between(accepted_, *first_token_);
    if (first_token_ && usage_ && usage_->completion_tokens) {
        const double secs = std::chrono::duration<double>(now - *first_token_).count();
        if (secs > 0) {
            info.tokens_per_second = static_cast<double>(*usage_->completion_tokens) / secs;
        }
    }
    finish(how, info, info.finish_reason);
}

void request_stream::finish_error(protocol::error err) {
    if (finished_)
        return;
    if (!req_.whole_mode()) {
        // Text already received is delivered before the error.
        std::string held_text;
        held_text.swap(pending_text_);
        std::string held_reasoning;
        held_reasoning.swap(pending_reasoning_);
        if (flush_timer_ != 0) {
            svc_.loop.cancel_timer(flush_timer_);
            flush_timer_ = 0;
        }
        if (!held_reasoning.empty())
            sender_.send_text(held_reasoning, true, chunks_);
        if (!held_text.empty() && sender_.send_text(held_text, false, chunks_)) {
            bytes_ += held_text.size();
        }
    }
    const std::string code(protocol::to_string(err.code));
    finish(outcome::error, err, code + ": " + err.message);
}

void request_stream::finish(outcome how, const terminal_event& terminal, std::string_view detail) {
    finished_ = true;
    stop_transfer();
    release_backend();
    if (watchdog_ != 0) {
        svc_.loop.cancel_timer(watchdog_);
        watchdog_ = 0;
    }
    const bool sent = std::holds_alternative<protocol::error>(terminal)
                          ? sender_.send_error(std::get<protocol::error>(terminal))
                          : sender_.send("done", [&](std::uint64_t seq) {
                                return protocol::encode_done(
                                    req_.id, seq, std::get<protocol::done_info>(terminal));
                            });
    if (!sent) {
        get_logger("bridge")->error("[{}] the terminal event cannot be sent within {} bytes",
                                    req_.id, sender_.limit());
    }
    sender_.ended();
    const auto now = clock::now();
    const std::string model = upstream_model_.empty() ? effective_model() : upstream_model_;
    const auto log = get_logger("bridge");
    const auto level = how == outcome::error ? spdlog::level::warn : spdlog::level::info;
    const auto tokens = [](const std::optional<std::uint64_t>& n) {
        return n ? std::to_string(*n) : std::string("-");
    };
    log->log(level,
             "[{}] client={} model={} backend={} outcome={} chunks={} bytes={} "
             "prompt_tokens={} completion_tokens={} ttft_ms={} duration_ms={} ({})",
             req_.id, client_, model.empty() ? "-" : model,
             backend_name_.empty() ? "-" : backend_name_,
             how == outcome::done        ? "done"
             : how == outcome::cancelled ? "cancelled"
                                         : "error",
             chunks_, bytes_, tokens(usage_ ? usage_->prompt_tokens : std::nullopt),
             tokens(usage_ ? usage_->completion_tokens : std::nullopt),
             first_token_ ? std::to_string(ms_between(accepted_, *first_token_)) : "-",
             ms_between(accepted_, now), detail);
    if (svc_.stats) {
        request_report r;
        r.how = how == outcome::done        ? request_report::end::done
                : how == outcome::cancelled ? request_report::end::cancelled
                                            : request_report::end::error;
        if (const auto* err = std::get_if<protocol::error>(&terminal))
            r.code = err->code;
        if (first_token_)
            r.ttft_ms = ms_between(accepted_, *first_token_);
        r.duration_ms = ms_between(accepted_, now);
        if (const auto* info = std::get_if<protocol::done_info>(&terminal)) {
            r.duration_ms = info->duration_ms;  // the figure the device got in done
        }
        r.chunks = chunks_;
        r.bytes = bytes_;
        svc_.stats->on_finished(r);
    }
    if (on_finished_)
        on_finished_(*this);
}

}  // namespace llmb
