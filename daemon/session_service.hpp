// Conversation sessions in the daemon: owns the session store (loaded at start, expired on a
// timer), answers session ops ({prefix}/session/{client}) with one `session` event, builds the
// prompt of a request that names a session, and stores the turn once the answer is done.
// Everything here runs on the event loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/backend_pool.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/mqtt_link.hpp"
#include "daemon/session_store.hpp"
#include "daemon/session_turn.hpp"
#include "protocol/envelope.hpp"
#include "protocol/request.hpp"

namespace llmb {

// Room kept for the answer when neither the request nor its project sets max_tokens.
inline constexpr std::uint32_t default_answer_tokens = 512;

class session_service {
public:
    // The store takes its settings (state_dir, ttl, max_sessions, max_messages) from
    // cfg->sessions now; a reload changes only the context size used for trimming.
    session_service(event_loop& loop, mqtt_link& mqtt, const backend_pool& backends,
                    std::shared_ptr<const config> cfg);
    ~session_service();
    session_service(const session_service&) = delete;
    session_service& operator=(const session_service&) = delete;

    // Loads the sessions kept in state_dir and starts expiring idle ones, every
    // min(60 s, ttl / 2).
    void start();
    // Stops the expiry timer.
    void stop();
    void reload(std::shared_ptr<const config> cfg);

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
    void store(const session_turn& turn, std::string_view answer,
               const std::optional<protocol::token_usage>& usage);

    // The key project part of a project's sessions: its name when that is a valid name, else
    // the name with other characters replaced and a hash of it appended (unique per name).
    static std::string project_key(const project_config& project);

private:
    void schedule_expiry();
    void expire();
    void log_warnings();
    std::uint32_t context_for(const std::string& model) const;

    event_loop& loop_;
    mqtt_link& mqtt_;
    const backend_pool& backends_;
    std::shared_ptr<const config> cfg_;
    session_store store_;
    event_loop::timer_id expiry_timer_ = 0;
};

}  // namespace llmb
