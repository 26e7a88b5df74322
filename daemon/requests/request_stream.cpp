#include "daemon/requests/request_stream.hpp"

#include <algorithm>

#include "daemon/config/project_defaults.hpp"
#include "daemon/service/log.hpp"
#include "protocol/upstream_request.hpp"

namespace llmb {

namespace {

constexpr std::size_t max_error_body = 64 * 1024;
constexpr std::size_t max_json_body = 64 * 1024 * 1024;

std::uint64_t ms_between(std::chrono::steady_clock::time_point a,
                         std::chrono::steady_clock::time_point b) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
    return ms > 0 ? static_cast<std::uint64_t>(ms) : 0;
}

bool is_success(long status) {
    return status >= 200 && status < 300;
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

void request_stream::choose_backend() {
    const std::string model = effective_model();
    const auto candidates = svc_.backends.candidates(model, tried_);
    if (candidates.empty()) {
        const bool any_tried = !tried_.empty();
        finish_error({any_tried ? protocol::error_code::upstream_unavailable
                                : protocol::error_code::bad_request,
                      any_tried ? "no LLM server for this request could be reached; try again later"
                                : "no LLM server serves the model '" + model + "'",
                      std::nullopt});
        return;
    }
    const std::size_t b = candidates.front();
    std::size_t position = 0;
    switch (svc_.backends.admit(b, *this, position)) {
        case backend_pool::admission::granted:
            start_upstream(b);
            break;
        case backend_pool::admission::queued:
            queued_ = true;
            sender_.send("status", [&](std::uint64_t seq) {
                return protocol::encode_status_queued(req_.id, seq, position);
            });
            break;
        case backend_pool::admission::full:
            finish_error({protocol::error_code::overloaded,
                          "every LLM server slot and queue place for this model is taken; try "
                          "again shortly",
                          1000});
            break;
    }
}

void request_stream::on_slot(std::size_t backend) {
    if (finished_) {
        svc_.backends.release(backend);
        return;
    }
    if (queued_) {
        queued_ = false;
        sender_.send("status", [&](std::uint64_t seq) {
            return protocol::encode_status_generating(req_.id, seq);
        });
    }
    start_upstream(backend);
}

void request_stream::start_upstream(std::size_t backend) {
    backend_ = backend;
    const auto& be = svc_.backends.backend(backend);
    backend_name_ = be.name;
    upstream_started_ = clock::now();
    last_data_ = *upstream_started_;
    first_byte_.reset();
    http_status_ = 0;
    body_.clear();
    body_checked_ = false;
    body_is_json_ = false;
    sse_ = protocol::sse_parser();

    http_request hr;
    hr.url = be.url + "/v1/chat/completions";
    hr.body = protocol::encode_chat_completion(req_, upstream_options_for(req_, project_));
    hr.headers = {"Content-Type: application/json", "Accept: text/event-stream"};
    if (!be.api_key.empty())
        hr.headers.push_back("Authorization: Bearer " + be.api_key);
    hr.tls = &be.tls;
    hr.pausable = true;  // held back while the broker cannot take the answer (backpressure)
    hr.connect_timeout_ms = static_cast<long>(cfg_->timeouts.connect.count());
    // The watchdog enforces the total timeout; curl's limit is only a backstop.
    hr.total_timeout_ms = static_cast<long>(cfg_->timeouts.total.count()) + 5000;
    try {
        transfer_ = svc_.http.start(hr, *this);
        transfer_active_ = true;
    } catch (const std::exception& e) {
        finish_error({protocol::error_code::internal,
                      std::string("could not start the upstream request: ") + e.what(),
                      std::nullopt});
        return;
    }
    if (watchdog_ != 0)
        svc_.loop.cancel_timer(watchdog_);
    arm_watchdog();
}

void request_stream::release_backend() {
    if (queued_) {
        svc_.backends.withdraw(*this);
        queued_ = false;
    }
    if (backend_) {
        backend_.reset();
        // Looked up by name: a reload may have reordered the backends since the slot was taken.
        if (const auto b = svc_.backends.index_of(backend_name_))
            svc_.backends.release(*b);
    }
}

void request_stream::cancel() {
    if (finished_)
        return;
    finish_done("cancelled");
}

void request_stream::fail(protocol::error err) {
    if (finished_)
        return;
    finish_error(std::move(err));
}

bool request_stream::on_data(long http_status, std::string_view bytes) {
    if (finished_)
        return false;
    http_status_ = http_status;
    last_data_ = clock::now();
    if (!first_byte_) {
        first_byte_ = last_data_;
        // The watchdog waits for the first-byte deadline; from now on silence is measured
        // against the idle timeout, which may come much sooner.
        if (watchdog_ != 0)
            svc_.loop.cancel_timer(watchdog_);
        arm_watchdog();
    }

    if (!is_success(http_status)) {
        const std::size_t room = max_error_body - std::min(body_.size(), max_error_body);
        body_.append(bytes.substr(0, room));
        return true;
    }
    if (!body_checked_) {
        const auto pos = bytes.find_first_not_of(" \t\r\n");
        if (pos != std::string_view::npos) {
            body_checked_ = true;
            body_is_json_ = bytes[pos] == '{';
        }
    }
    if (body_is_json_) {
        if (body_.size() + bytes.size() > max_json_body) {
            finish_error({protocol::error_code::upstream_error,
                          "the LLM server's answer is larger than the bridge accepts",
                          std::nullopt});
            return false;
        }
        body_.append(bytes);
        return true;
    }
    events_.clear();
    const bool ok = sse_.feed(bytes, events_);
    for (const auto& ev : events_) {
        handle_event(ev);
        if (finished_)
            return false;
    }
    if (!ok) {
        finish_error({protocol::error_code::upstream_error,
                      "the LLM server sent a stream event larger than the bridge accepts",
                      std::nullopt});
        return false;
    }
    return true;
}

void request_stream::handle_event(const protocol::sse_event& ev) {
    const auto d = protocol::decode_stream_event(ev);
    if (d.error) {
        finish_error({protocol::error_code::upstream_error,
                      "the LLM server reported an error: " + *d.error, std::nullopt});
        return;
    }
    if (d.malformed) {
        finish_error({protocol::error_code::upstream_error,
                      "the LLM server sent an unreadable stream event: " + *d.malformed,
                      std::nullopt});
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
            finish_error({protocol::error_code::internal,
                          "the answer cannot be split to fit the packet limit", std::nullopt});
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
        finish_error({protocol::error_code::internal,
                      "the answer cannot be split to fit the packet limit", std::nullopt});
    }
}

void request_stream::finish_done(std::string finish_reason) {
    if (finished_)
        return;
    const bool cancelled = finish_reason == "cancelled";
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
            finish_error({protocol::error_code::internal,
                          "the answer cannot be split to fit the packet limit", std::nullopt});
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
    finish(cancelled ? outcome::cancelled : outcome::done, info, info.finish_reason);
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

void request_stream::stop_transfer() {
    if (!transfer_active_)
        return;
    transfer_active_ = false;
    svc_.http.abort(transfer_);
}

void request_stream::on_complete(CURLcode result, long http_status, std::string_view error_text) {
    transfer_active_ = false;
    if (finished_)
        return;
    using protocol::error_code;
    if (result != CURLE_OK) {
        const auto tls = tls_failure_words(result, "the LLM server");
        if (!tls.empty() && !first_byte_) {
            // A certificate or key problem is not cured by trying again: say what it is.
            get_logger("bridge")->warn("[{}] backend {}: {} ({})", req_.id, backend_name_, tls,
                                       error_text);
            finish_error({error_code::upstream_unavailable,
                          tls + " (" + std::string(error_text) + ")", std::nullopt});
            return;
        }
        const bool unreachable =
            !first_byte_ &&
            (result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST ||
             result == CURLE_COULDNT_RESOLVE_PROXY || result == CURLE_GOT_NOTHING);
        if (unreachable && backend_) {
            // Nothing reached the device yet: the next backend serving the model takes over.
            get_logger("bridge")->warn("[{}] backend {} unreachable ({}); failing over", req_.id,
                                       backend_name_, error_text);
            if (const auto b = svc_.backends.index_of(backend_name_))
                svc_.backends.mark(*b, false);
            tried_.push_back(backend_name_);
            release_backend();
            choose_backend();
            return;
        }
        if (unreachable) {
            finish_error(
                {error_code::upstream_unavailable,
                 "cannot reach the LLM server (" + std::string(error_text) + "); try again later",
                 std::nullopt});
        } else if (result == CURLE_OPERATION_TIMEDOUT) {
            finish_error({error_code::upstream_timeout,
                          "the LLM server did not answer in time (" + std::string(error_text) + ")",
                          std::nullopt});
        } else {
            finish_error({error_code::upstream_error,
                          "the connection to the LLM server broke off before the answer was "
                          "finished (" +
                              std::string(error_text) + ")",
                          std::nullopt});
        }
        return;
    }
    if (const auto b = svc_.backends.index_of(backend_name_); backend_ && b) {
        svc_.backends.mark(*b, true);  // it answered
    }
    if (!is_success(http_status)) {
        if (retry_with_less_history(http_status))
            return;
        finish_error({error_code::upstream_error,
                      "the LLM server answered HTTP " + std::to_string(http_status) + ": " +
                          protocol::decode_error_body(http_status, body_),
                      std::nullopt});
        return;
    }
    if (body_is_json_) {
        const auto w = protocol::decode_whole_response(body_);
        if (w.error) {
            finish_error({error_code::upstream_error,
                          "the LLM server reported an error: " + *w.error, std::nullopt});
            return;
        }
        if (w.malformed) {
            finish_error({error_code::upstream_error,
                          "the LLM server sent an unreadable answer: " + *w.malformed,
                          std::nullopt});
            return;
        }
        if (!w.model.empty())
            upstream_model_ = w.model;
        usage_ = w.usage;
        if (!w.reasoning.empty())
            handle_text(w.reasoning, true);
        if (!finished_ && !w.content.empty())
            handle_text(w.content, false);
        if (finished_)
            return;
        tool_calls_json_ = w.tool_calls_json;
        finish_done(w.finish_reason.empty() ? "stop" : w.finish_reason);
        return;
    }
    if (sse_.has_partial()) {
        // The last event lacked its blank line: take it as ended.
        events_.clear();
        sse_.feed("\n\n", events_);
        for (const auto& ev : events_) {
            handle_event(ev);
            if (finished_)
                return;
        }
    }
    if (finish_reason_) {
        finish_done(*finish_reason_);
        return;
    }
    finish_error({error_code::upstream_error,
                  "the LLM server ended the stream before the answer was finished; try again",
                  std::nullopt});
}

bool request_stream::retry_with_less_history(long http_status) {
    if (!session_ || session_->retried || !backend_ || chunks_ > 0 ||
        !context_exceeded(http_status, body_)) {
        return false;
    }
    const auto b = svc_.backends.index_of(backend_name_);
    if (!b)
        return false;  // the backend left the configuration meanwhile
    const std::size_t dropped = trim_turn_harder(*session_);
    if (dropped == 0)
        return false;
    req_.messages = turn_messages(*session_);
    get_logger("bridge")->info(
        "[{}] the LLM server found the prompt too long for its context; "
        "retrying without {} more history messages ({} left)",
        req_.id, dropped, kept_messages(*session_));
    sender_.send("status", [&](std::uint64_t seq) {
        return protocol::encode_status_trimmed(req_.id, seq, dropped);
    });
    start_upstream(*b);  // the same slot
    return true;
}

// Since when the server has been silent: time while the transfers were held back by
// backpressure is not the server's silence.
request_stream::clock::time_point request_stream::quiet_since() const {
    return std::max(first_byte_ ? last_data_ : *upstream_started_, svc_.http.resumed_at());
}

void request_stream::arm_watchdog() {
    const auto& t = cfg_->timeouts;
    auto deadline = accepted_ + t.total;
    if (upstream_started_) {
        // While held back nothing is read: look again later instead of counting silence.
        const auto quiet = svc_.http.paused()
                               ? clock::now() + t.idle
                               : quiet_since() + (first_byte_ ? t.idle : t.first_byte);
        deadline = std::min(deadline, quiet);
    }
    watchdog_ = svc_.loop.add_timer(deadline, [this] {
        watchdog_ = 0;
        on_watchdog();
    });
}

void request_stream::on_watchdog() {
    if (finished_)
        return;
    const auto now = clock::now();
    const auto& t = cfg_->timeouts;
    if (now >= accepted_ + t.total) {
        finish_error({protocol::error_code::upstream_timeout,
                      "the request took longer than " + std::to_string(t.total.count()) + " ms",
                      std::nullopt});
    } else if (!upstream_started_ || svc_.http.paused()) {
        arm_watchdog();
    } else if (!first_byte_ && now >= quiet_since() + t.first_byte) {
        finish_error(
            {protocol::error_code::upstream_timeout,
             "the LLM server sent nothing within " + std::to_string(t.first_byte.count()) + " ms",
             std::nullopt});
    } else if (first_byte_ && now >= quiet_since() + t.idle) {
        finish_error(
            {protocol::error_code::upstream_timeout,
             "the LLM server stalled: nothing for " + std::to_string(t.idle.count()) + " ms",
             std::nullopt});
    } else {
        arm_watchdog();
    }
}

}  // namespace llmb
