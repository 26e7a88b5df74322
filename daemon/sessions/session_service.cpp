// Sessions in the daemon (see session_service.hpp).
#include "daemon/sessions/session_service.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/config/project_defaults.hpp"
#include "daemon/requests/event_sender.hpp"
#include "daemon/service/log.hpp"
#include "protocol/session_op.hpp"
#include "protocol/topics.hpp"

namespace llmb {

namespace {

constexpr auto max_expiry_period = std::chrono::milliseconds(60000);

// A /tokenize answer larger than this is not read (it would be a message of millions of tokens).
constexpr std::size_t max_tokenize_body = std::size_t{16} << 20;

std::shared_ptr<spdlog::logger> logger() {
    return get_logger("sessions");
}

std::uint32_t saturate(std::uint64_t v) noexcept {
    return v > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(v);
}

// Transient HTTP statuses: the backend may count tokens later.
bool transient_status(long status) noexcept {
    return status == 429 || status == 503;
}

}  // namespace

// One POST /tokenize for a stored user message; reports to the service when it ends.
class session_service::token_count final : public http_handler {
public:
    token_count(session_service& owner, std::uint64_t id, session_key k, std::string text,
                std::string name)
        : key(std::move(k)),
          content(std::move(text)),
          backend(std::move(name)),
          owner_(owner),
          id_(id) {}

    bool on_data(long, std::string_view bytes) override {
        if (body.size() + bytes.size() > max_tokenize_body) {
            too_large = true;  // keeps reading (and dropping) so that on_complete still comes
        } else if (!too_large) {
            body.append(bytes);
        }
        return true;
    }

    void on_complete(const http_result& r) override {
        owner_.on_counted(id_, r.code, r.status, r.error_text);
    }

    http_client::transfer_id transfer = 0;
    session_key key;
    std::string content;
    std::string backend;
    std::string body;
    bool too_large = false;

private:
    session_service& owner_;
    std::uint64_t id_;
};

session_service::session_service(event_loop& loop, mqtt_link& mqtt, http_client& http,
                                 const backend_pool& backends, std::shared_ptr<const config> cfg)
    : loop_(loop),
      mqtt_(mqtt),
      http_(http),
      backends_(backends),
      cfg_(std::move(cfg)),
      store_(cfg_->sessions, [] { return std::chrono::system_clock::now(); }) {
    // A failed file write is reported by the writer thread: logged here, on the loop.
    store_.set_on_write_error([this, alive = std::weak_ptr<int>(alive_)] {
        loop_.post([this, alive] {
            if (alive.lock())
                log_warnings();
        });
    });
}

session_service::~session_service() {
    stop();
}

void session_service::start() {
    const auto& s = cfg_->sessions;
    for (const auto& w : store_.load())
        logger()->warn("{}", w);
    if (s.state_dir.empty()) {
        logger()->info("sessions are kept in memory only (no sessions.state_dir)");
    } else {
        logger()->info("{} session(s) loaded from {}", store_.size(), s.state_dir);
    }
    schedule_expiry();
}

void session_service::stop() {
    if (expiry_timer_ != 0) {
        loop_.cancel_timer(expiry_timer_);
        expiry_timer_ = 0;
    }
    for (auto& [id, count] : counting_)
        http_.abort(count->transfer);
    counting_.clear();
    drain("at shutdown");
}

void session_service::drain(const char* when) {
    if (!store_.flush(drain_timeout))
        logger()->warn("session files not all written {} within {} ms: the disk is slow", when,
                       drain_timeout.count());
    log_warnings();
}

void session_service::reload(std::shared_ptr<const config> cfg) {
    const auto& a = cfg_->sessions;
    const auto& b = cfg->sessions;
    if (a.state_dir != b.state_dir || a.ttl != b.ttl || a.max_sessions != b.max_sessions ||
        a.max_messages != b.max_messages) {
        logger()->warn("sessions settings other than context_tokens apply after a restart");
    }
    cfg_ = std::move(cfg);
    drain("at reload");
}

void session_service::schedule_expiry() {
    const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_->sessions.ttl);
    const auto period = std::clamp(ttl / 2, std::chrono::milliseconds(100), max_expiry_period);
    expiry_timer_ = loop_.add_timer(period, [this] {
        expiry_timer_ = 0;
        expire();
        schedule_expiry();
    });
}

void session_service::expire() {
    const std::size_t n = store_.expire(std::chrono::system_clock::now());
    if (n > 0)
        logger()->info("expired {} idle session(s); {} left", n, store_.size());
    log_warnings();
}

void session_service::log_warnings() {
    for (const auto& w : store_.take_warnings())
        logger()->warn("{}", w);
}

std::string session_service::project_key(const project_config& project) {
    if (protocol::valid_name(project.name))
        return project.name;
    // FNV-1a over the name keeps distinct names apart once their characters are replaced.
    std::uint64_t h = 1469598103934665603ULL;
    std::string key;
    for (const char c : project.name) {
        h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        key += ok ? c : '_';
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string suffix = "-";
    for (int i = 0; i < 16; ++i)
        suffix += hex[(h >> (60 - 4 * i)) & 0xf];
    key.resize(std::min(key.size(), std::size_t{64} - suffix.size()));
    return key + suffix;
}

std::uint32_t session_service::context_for(const std::string& model) const {
    const std::uint32_t fallback = cfg_->sessions.context_tokens;
    std::uint32_t context = 0;
    for (const std::size_t b : backends_.candidates(model, {})) {
        const std::uint32_t c = backends_.backend(b).context_tokens;
        const std::uint32_t effective = c != 0 ? c : fallback;
        context = context == 0 ? effective : std::min(context, effective);
    }
    return context != 0 ? context : fallback;
}

void session_service::on_op(const project_config& project, const std::string& client,
                            std::string_view payload, const std::string& generated_id) {
    const auto decoded = protocol::decode_session_op(payload, generated_id);
    event_sender sender(mqtt_, cfg_->mqtt.qos,
                        protocol::response_topic(project.prefix, client, decoded.id), "",
                        decoded.id, 0, cfg_->mqtt.max_packet);
    if (decoded.err) {
        logger()->info("[{}] client={} session op rejected: {}", decoded.id, client,
                       decoded.err->message);
        if (!sender.send("error", [&](std::uint64_t seq) {
                return protocol::encode_error(decoded.id, seq, *decoded.err);
            })) {
            logger()->error("[{}] client={} the error event does not fit the packet limit",
                            decoded.id, client);
        }
        return;
    }
    const protocol::session_op& op = *decoded.op;
    const session_key key{project_key(project), client, op.session};
    bool ok = true;
    std::optional<std::vector<protocol::session_message>> messages;
    switch (op.op) {
        case protocol::session_op_kind::get: {
            messages.emplace();
            const session* s = store_.find(key);
            ok = s != nullptr;
            if (s != nullptr) {
                if (s->system)
                    messages->push_back({"system", *s->system});
                for (const auto& m : s->messages)
                    messages->push_back({m.role, m.content});
            }
            break;
        }
        case protocol::session_op_kind::clear:
            ok = store_.clear(key);
            break;
        case protocol::session_op_kind::erase:
            ok = store_.erase(key);
            break;
        case protocol::session_op_kind::set_system:
            store_.set_system(key, op.system->empty() ? std::nullopt : op.system);
            break;
    }
    log_warnings();
    logger()->info("[{}] client={} session={} {}: {}", op.id, client, op.session,
                   protocol::to_string(op.op), ok ? "ok" : "no such session");
    const bool sent = sender.send("session", [&](std::uint64_t seq) {
        return protocol::encode_session(op.id, seq, ok, op.session, messages);
    });
    if (!sent) {
        logger()->error("[{}] client={} the session event does not fit the packet limit", op.id,
                        client);
    }
}

std::optional<session_turn> session_service::prepare(const project_config& project,
                                                     const std::string& client,
                                                     protocol::request& req) {
    if (!req.session)
        return std::nullopt;
    session_key key{project_key(project), client, *req.session};
    const std::uint32_t context = context_for(model_for(req, project));
    const std::uint32_t max_tokens =
        req.max_tokens.value_or(project.max_tokens.value_or(default_answer_tokens));
    const session& s = store_.get_or_create(key);
    session_turn turn = plan_turn(std::move(key), s.system, s.messages, req, project.system_prompt,
                                  context, max_tokens);
    turn.model = model_for(req, project);
    log_warnings();
    req.messages = turn_messages(turn);
    if (!turn.fits) {
        logger()->info(
            "[{}] session={} the request alone does not fit a context of {} tokens "
            "with {} for the answer; sent without history",
            req.id, *req.session, context, max_tokens);
    } else {
        logger()->debug("[{}] session={} history: {} of {} stored messages sent", req.id,
                        *req.session, kept_messages(turn), turn.history.size());
    }
    return turn;
}

void session_service::store(const session_turn& turn, std::string_view answer,
                            const std::optional<protocol::token_usage>& usage) {
    if (!turn.user_text) {
        logger()->debug("session={} turn not stored: the request had no user message",
                        turn.key.session);
        return;
    }
    history_message user{"user", *turn.user_text, 0};
    history_message assistant{"assistant", std::string(answer), 0};
    if (usage && usage->completion_tokens) {
        assistant.tokens = saturate(*usage->completion_tokens);
    }
    if (!store_.append(turn.key, std::move(user), std::move(assistant))) {
        logger()->info(
            "session={} client={} turn not stored: the session was deleted or "
            "expired meanwhile",
            turn.key.session, turn.key.client);
    } else {
        count_tokens(turn.key, turn.model, *turn.user_text);
    }
    log_warnings();
}

void session_service::count_tokens(const session_key& key, const std::string& model,
                                   const std::string& text) {
    if (counting_.size() >= max_pending_counts)
        return;
    std::optional<std::size_t> chosen;
    for (const std::size_t b : backends_.candidates(model, {})) {
        if (no_tokenize_.count(backends_.backend(b).name) == 0) {
            chosen = b;
            break;
        }
    }
    if (!chosen)
        return;
    const backend_config& be = backends_.backend(*chosen);
    http_request req;
    req.url = be.url + "/tokenize";
    req.body = nlohmann::json{{"content", text}}.dump(-1, ' ', false,
                                                      nlohmann::json::error_handler_t::replace);
    req.headers = {"Content-Type: application/json"};
    if (!be.api_key.empty())
        req.headers.push_back("Authorization: Bearer " + be.api_key);
    req.tls = &be.tls;
    req.connect_timeout_ms = 2000;
    req.total_timeout_ms = 10000;
    const std::uint64_t id = next_count_++;
    auto count = std::make_unique<token_count>(*this, id, key, text, be.name);
    token_count& ref = *count;
    counting_.emplace(id, std::move(count));
    try {
        ref.transfer = http_.start(req, ref);
    } catch (const std::exception& e) {
        counting_.erase(id);
        logger()->warn("session={} cannot ask {} for a token count: {}", key.session, be.name,
                       e.what());
    }
}

void session_service::on_counted(std::uint64_t id, CURLcode result, long http_status,
                                 std::string_view error_text) {
    const auto it = counting_.find(id);
    if (it == counting_.end())
        return;
    // The handler is inside the client's callback: it goes once that has returned.
    std::shared_ptr<token_count> count(std::move(it->second));
    counting_.erase(it);
    loop_.defer([count] {});

    if (result != CURLE_OK) {
        logger()->debug("session={} no token count from {}: {}", count->key.session, count->backend,
                        error_text);
        return;
    }
    const bool ok_status = http_status >= 200 && http_status < 300;
    std::optional<std::size_t> tokens;
    if (ok_status && !count->too_large) {
        const auto j = nlohmann::json::parse(count->body, nullptr, false);
        if (j.is_object()) {
            const auto t = j.find("tokens");
            if (t != j.end() && t->is_array())
                tokens = t->size();
        }
    }
    if (!tokens) {
        if (!transient_status(http_status) && !count->too_large) {
            no_tokenize_.insert(count->backend);
            logger()->info(
                "{} does not count tokens (POST /tokenize: HTTP {}); history token "
                "counts stay estimated for it",
                count->backend, http_status);
        }
        return;
    }
    const std::uint32_t n = saturate(std::uint64_t{*tokens} + message_overhead_tokens);
    const bool set = store_.set_tokens(count->key, "user", count->content, n);
    log_warnings();
    logger()->debug("session={} user message counted by {}: {} tokens (estimated {}){}",
                    count->key.session, count->backend, n, estimate_tokens(count->content),
                    set ? "" : "; the message is no longer stored");
}

}  // namespace llmb
