// Conversation sessions in the daemon: owns the session store (loaded at start, expired on a
// timer), answers session ops ({prefix}/session/{client}) with one `session` event, builds the
// prompt of a request that names a session, and stores the turn once the answer is done.
// Everything here runs on the event loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "daemon/config/config.hpp"
#include "daemon/mqtt/mqtt_link.hpp"
#include "daemon/service/event_loop.hpp"
#include "daemon/sessions/session_store.hpp"
#include "daemon/sessions/session_turn.hpp"
#include "daemon/upstream/backend_pool.hpp"
#include "daemon/upstream/http_client.hpp"
#include "protocol/envelope.hpp"
#include "protocol/request.hpp"

namespace llmb {

// Room kept for the answer when neither the request nor its project sets max_tokens.
inline constexpr std::uint32_t default_answer_tokens = 512;

// Tokens a counted message costs on top of the tokens of its content: the chat template's role
// markers. The same 4 that estimate_tokens (history_trim.hpp) adds, so counted and estimated
// messages are on one scale.
inline constexpr std::uint32_t message_overhead_tokens = 4;

// Token counts asked for at once; a turn stored while this many are outstanding keeps its
// estimate.
inline constexpr std::size_t max_pending_counts = 16;

class session_service {
public:
    // The store takes its settings (state_dir, ttl, max_sessions, max_messages) from
    // cfg->sessions now; a reload changes only the context size used for trimming.
    session_service(event_loop& loop, mqtt_link& mqtt, http_client& http,
                    const backend_pool& backends, std::shared_ptr<const config> cfg);
    ~session_service();
    session_service(const session_service&) = delete;
    session_service& operator=(const session_service&) = delete;

    // Loads the sessions kept in state_dir and starts expiring idle ones, every
    // min(60 s, ttl / 2).
    void start();
    // Stops the expiry timer, aborts the token counts still outstanding and waits (at most
    // drain_timeout) for the session files still being written.
    void stop();
    // Takes the new context size and, like stop, waits for the pending session files.
    void reload(std::shared_ptr<const config> cfg);

    // How long stop and reload wait for the session files' writer.
    static constexpr std::chrono::milliseconds drain_timeout{2000};

    // Decodes a session op and answers it on {prefix}/response/{client}/{id} with one session
    // event (an error event when the op cannot be read). generated_id names an op without id.
    //   get: ok = the session exists; messages = its stored turns, preceded by
    //        {"role":"system",...} when it has its own system text (empty when it does not exist)
    //   clear: drops the turns, keeps the system text; ok = the session existed
    //   delete: removes the session; ok = it existed
    //   set_system: sets the session's system text ("" removes it), creating the session; ok
    void on_op(const project_config& project, const std::string& client, std::string_view payload,
               const std::string& generated_id);

    // For a request with a session (nullopt otherwise): creates the session when it is new and
    // replaces req.messages by [system] + the stored history that fits + the request's own
    // non-system messages (session_turn.hpp). The context is the smallest context_tokens of
    // the backends that serve the request's model (sessions.context_tokens for those that set
    // none); the answer's room is req.max_tokens, else the project's max_tokens, else
    // default_answer_tokens. Call before apply_project_defaults.
    std::optional<session_turn> prepare(const project_config& project, const std::string& client,
                                        protocol::request& req);

    // Stores a finished turn: the request's last user message and the answer. The answer's
    // token count is usage.completion_tokens when the upstream reported it (else estimated).
    // Nothing is stored when the session was deleted or expired meanwhile.
    //
    // The user message is then counted by a backend that serves the turn's model (an up one
    // first): POST {url}/tokenize {"content":TEXT}, asynchronously on the event loop. Its answer
    // {"tokens":[...]} sets the stored message's count to the number of tokens plus
    // message_overhead_tokens, unless the message is gone meanwhile; until then, or when no
    // count comes, the estimate serves. A backend that answers with an HTTP error (other than
    // 429 and 503) or without a tokens array is not asked again (remembered by name until the
    // daemon restarts); a transfer failure is not remembered.
    void store(const session_turn& turn, std::string_view answer,
               const std::optional<protocol::token_usage>& usage);

    // The key project part of a project's sessions: its name when that is a valid name, else
    // the name with other characters replaced and a hash of it appended (unique per name).
    static std::string project_key(const project_config& project);

private:
    class token_count;

    void schedule_expiry();
    void count_tokens(const session_key& key, const std::string& model, const std::string& text);
    void on_counted(std::uint64_t id, CURLcode result, long http_status,
                    std::string_view error_text);
    void expire();
    void log_warnings();
    void drain(const char* when);
    std::uint32_t context_for(const std::string& model) const;

    event_loop& loop_;
    mqtt_link& mqtt_;
    http_client& http_;
    const backend_pool& backends_;
    std::shared_ptr<const config> cfg_;
    session_store store_;
    event_loop::timer_id expiry_timer_ = 0;
    std::map<std::uint64_t, std::unique_ptr<token_count>> counting_;  // by count id
    std::uint64_t next_count_ = 1;
    std::set<std::string> no_tokenize_;  // backends that cannot count tokens
    // Expires before store_ (declared after it): a write error reported while the store is
    // destroyed posts nothing that would reach this object.
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace llmb
