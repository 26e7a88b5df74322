// One request in flight: it publishes start, drives its upstream transfer, relays what the LLM
// server streams, and ends with exactly one terminal event. The type guarantees that: every way
// out goes through finish(), and the destructor of a request that has not finished sends an
// `internal` error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/mqtt/mqtt_link.hpp"
#include "daemon/requests/event_sender.hpp"
#include "daemon/service/event_loop.hpp"
#include "daemon/service/metrics.hpp"
#include "daemon/sessions/session_turn.hpp"
#include "daemon/upstream/backend_pool.hpp"
#include "daemon/upstream/http_client.hpp"
#include "protocol/envelope.hpp"
#include "protocol/error.hpp"
#include "protocol/openai.hpp"
#include "protocol/request.hpp"
#include "protocol/sse.hpp"

namespace llmb {

struct stream_services {
    event_loop& loop;
    http_client& http;
    mqtt_link& mqtt;
    backend_pool& backends;
    metrics* stats = nullptr;  // told how each request ended; may be null
};

enum class outcome { done, cancelled, error };

class request_stream final : public http_handler, public slot_waiter {
public:
    using finished_handler = std::function<void(request_stream&)>;

    // project points into cfg, which the request keeps alive: a reload does not change the
    // settings of a request in flight.
    request_stream(stream_services& services, std::shared_ptr<const config> cfg,
                   const project_config& project, std::string client, protocol::request req,
                   event_sender sender, finished_handler on_finished);
    ~request_stream() override;
    request_stream(const request_stream&) = delete;
    request_stream& operator=(const request_stream&) = delete;

    // Publishes start, then sends the request upstream (or queues it for a slot).
    void begin();
    // Ends with done/cancelled; the upstream transfer is aborted at once.
    void cancel();
    // Ends with an error event (shutting_down, overloaded, ...).
    void fail(protocol::error err);

    // A replay of this request's events was queued (a resume): see event_sender::stop_joining.
    void replay_queued() noexcept { sender_.stop_joining(); }

    bool finished() const noexcept { return finished_; }
    const std::string& client() const noexcept { return client_; }
    const std::string& id() const noexcept { return req_.id; }
    const project_config& project() const noexcept { return project_; }
    // The rate/concurrency account this request counts against (set by the bridge).
    void set_limit_key(std::string key) { limit_key_ = std::move(key); }
    const std::string& limit_key() const noexcept { return limit_key_; }

    // Makes this a request of a session (call before begin()): when it ends with done (stop,
    // length or tool_calls; not cancelled) on_turn gets the answer text and usage to store. A
    // prompt the server refuses as too long for its context (HTTP 400, before any chunk) is
    // retried once with less history, after a status "trimmed" event.
    using turn_handler = std::function<void(const session_turn& turn, std::string_view answer,
                                            const std::optional<protocol::token_usage>& usage)>;
    void attach_session(session_turn turn, turn_handler on_turn);

    bool on_data(long http_status, std::string_view bytes) override;
    void on_complete(const http_result& r) override;
    void on_slot(std::size_t backend) override;

private:
    using clock = std::chrono::steady_clock;

    void handle_event(const protocol::sse_event& ev);
    void handle_text(std::string_view text, bool reasoning);
    void flush_pending();
    // Ends with a done event: how is done, or cancelled when the device asked for it.
    void finish_done(std::string finish_reason, outcome how = outcome::done);
    void finish_error(protocol::error err);
    using terminal_event = std::variant<protocol::done_info, protocol::error>;
    void finish(outcome how, const terminal_event& terminal, std::string_view detail);
    clock::time_point quiet_since() const;
    void arm_watchdog();
    void on_watchdog();
    void stop_transfer();
    void choose_backend();
    void start_upstream(std::size_t backend);
    void release_backend();
    std::string effective_model() const;
    // The server found the prompt too long for its context: retries once with less history.
    bool retry_with_less_history();

    stream_services& svc_;
    std::shared_ptr<const config> cfg_;
    const project_config& project_;
    std::string client_;
    std::string limit_key_;
    protocol::request req_;
    event_sender sender_;
    finished_handler on_finished_;

    std::optional<std::size_t> backend_;  // holding a slot on it
    std::string backend_name_;
    std::vector<std::string> tried_;  // backends that could not be reached
    bool queued_ = false;
    std::optional<clock::time_point> upstream_started_;
    http_client::transfer_id transfer_ = 0;
    bool transfer_active_ = false;
    bool finished_ = false;
    bool in_upstream_callback_ = false;

    protocol::sse_parser sse_;
    std::vector<protocol::sse_event> events_;
    protocol::tool_call_accumulator tools_;
    std::string tool_calls_json_;  // set from a whole (non-SSE) answer, or at the end
    bool body_is_json_ = false;    // a 200 answer without SSE (the server ignored stream:true)
    bool body_checked_ = false;
    std::string body_;  // error bodies and non-SSE answers, bounded
    long http_status_ = 0;

    std::string whole_text_;  // whole mode: the answer, sent at the end
    std::string whole_reasoning_;
    std::string pending_text_;  // flush_ms coalescing
    std::string pending_reasoning_;
    event_loop::timer_id flush_timer_ = 0;

    std::optional<std::string> finish_reason_;
    std::optional<protocol::token_usage> usage_;
    std::string upstream_model_;
    std::uint64_t chunks_ = 0;
    std::uint64_t bytes_ = 0;

    std::optional<session_turn> session_;
    turn_handler on_turn_;
    std::string answer_;  // the answer text, kept for the session

    clock::time_point accepted_;
    std::optional<clock::time_point> first_byte_;
    std::optional<clock::time_point> first_token_;
    clock::time_point last_data_;
    event_loop::timer_id watchdog_ = 0;
};

}  // namespace llmb
