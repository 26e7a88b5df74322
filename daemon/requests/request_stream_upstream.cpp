// request_stream toward the LLM server: the choice of a backend and its slot, the upstream
// transfer and what it streams, how the transfer ended (mapped by upstream_error), and the
// watchdog of the first-byte, idle and total timeouts. The device side (text, terminal events)
// is in request_stream.cpp.
#include "daemon/requests/request_stream.hpp"

#include <algorithm>

#include "daemon/config/project_defaults.hpp"
#include "daemon/service/log.hpp"
#include "daemon/upstream/upstream_error.hpp"
#include "protocol/upstream_request.hpp"

namespace llmb {

namespace {

constexpr std::size_t max_error_body = 64 * 1024;
constexpr std::size_t max_json_body = 64 * 1024 * 1024;

bool is_success(long status) {
    return status >= 200 && status < 300;
}

}  // namespace

void request_stream::choose_backend() {
    const std::string model = effective_model();
    const auto candidates = svc_.backends.candidates(model, tried_);
    if (candidates.empty()) {
        finish_error(upstream_errors::no_backend(model, !tried_.empty()));
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
            finish_error(upstream_errors::no_free_slot());
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

void request_stream::stop_transfer() {
    if (!transfer_active_)
        return;
    transfer_active_ = false;
    svc_.http.abort(transfer_);
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
            finish_error(upstream_errors::answer_too_large());
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
        finish_error(upstream_errors::event_too_large());
        return false;
    }
    return true;
}

void request_stream::on_complete(const http_result& r) {
    transfer_active_ = false;
    if (finished_)
        return;
    const CURLcode result = r.code;
    const std::string_view error_text = r.error_text;
    auto verdict = judge_transfer_end(
        {result, r.status, error_text, first_byte_.has_value(), body_, r.retry_after_s});
    if (verdict.step == upstream_step::fail_over && backend_) {
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
    if (result == CURLE_OK) {
        if (const auto b = svc_.backends.index_of(backend_name_); backend_ && b)
            svc_.backends.mark(*b, true);  // it answered
    }
    if (verdict.step == upstream_step::shorten_prompt && retry_with_less_history())
        return;
    if (verdict.step != upstream_step::read_answer) {
        if (verdict.tls) {
            get_logger("bridge")->warn("[{}] backend {}: {}", req_.id, backend_name_,
                                       verdict.err.message);
        }
        finish_error(std::move(verdict.err));
        return;
    }
    if (body_is_json_) {
        const auto w = protocol::decode_whole_response(body_);
        if (w.error) {
            finish_error(upstream_errors::reported(*w.error));
            return;
        }
        if (w.malformed) {
            finish_error(upstream_errors::unreadable_answer(*w.malformed));
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
    finish_error(upstream_errors::cut_short());
}

bool request_stream::retry_with_less_history() {
    if (!session_ || session_->retried || !backend_ || chunks_ > 0)
        return false;
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
        finish_error(upstream_errors::total_timeout(t.total));
    } else if (!upstream_started_ || svc_.http.paused()) {
        arm_watchdog();
    } else if (!first_byte_ && now >= quiet_since() + t.first_byte) {
        finish_error(upstream_errors::first_byte_timeout(t.first_byte));
    } else if (first_byte_ && now >= quiet_since() + t.idle) {
        finish_error(upstream_errors::idle_timeout(t.idle));
    } else {
        arm_watchdog();
    }
}

}  // namespace llmb
