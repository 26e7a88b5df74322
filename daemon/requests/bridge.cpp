#include "daemon/requests/bridge.hpp"

#include <unistd.h>

#include <algorithm>
#include <vector>

#include "daemon/cluster/cluster_takeover.hpp"
#include "daemon/config/project_defaults.hpp"
#include "daemon/service/log.hpp"
#include "protocol/envelope.hpp"
#include "protocol/json_text.hpp"
#include "protocol/legacy.hpp"
#include "protocol/topics.hpp"

namespace llmb {

namespace {

// Bytes waiting for the broker beyond which streamed answers are held back, and below which
// they go on again.
constexpr std::size_t backlog_high_bytes = 8u << 20;
constexpr std::size_t backlog_low_bytes = 2u << 20;

// Requests, session ops and legacy input are shared within a cluster group; cancels and
// resumes reach every bridge, and the one that owns (or holds) the request acts on it.
std::vector<std::string> project_filters(const config& c) {
    const auto shared = [&](std::string filter) {
        return c.cluster.group.empty() ? filter : protocol::shared_filter(c.cluster.group, filter);
    };
    std::vector<std::string> f;
    for (const auto& p : c.projects) {
        f.push_back(shared(protocol::request_filter(p.prefix)));
        f.push_back(protocol::cancel_filter(p.prefix));
        f.push_back(protocol::resume_filter(p.prefix));
        f.push_back(shared(protocol::session_filter(p.prefix)));
        if (p.legacy)
            f.push_back(shared(protocol::legacy_input_topic(p.prefix)));
    }
    return f;
}

replay_limits replay_limits_of(const config& c) {
    return {c.resume.request_bytes, c.resume.total_bytes, c.resume.ttl};
}

bool clustered(const config& c) {
    return !c.cluster.group.empty();
}

// {first prefix}/status, or {first prefix}/status/{bridge id} for a bridge of a cluster.
std::string own_status_topic(const config& c) {
    std::string t = protocol::status_topic(c.projects.front().prefix);
    if (clustered(c))
        t += "/" + cluster_bridge_id(c);
    return t;
}

std::string status_payload(const config& c, bool online) {
    std::string s = "{\"state\":";
    s += online ? "\"online\"" : "\"offline\"";
    s += ",\"client_id\":";
    protocol::append_json_string(s, c.mqtt.client_id);
    if (clustered(c)) {
        s += ",\"bridge\":";
        protocol::append_json_string(s, cluster_bridge_id(c));
    }
    if (online) {
        s += ",\"version\":\"" LLMB_VERSION "\",\"pid\":" + std::to_string(getpid());
        s += ",\"projects\":[";
        for (std::size_t i = 0; i < c.projects.size(); ++i) {
            if (i > 0)
                s += ',';
            protocol::append_json_string(s, c.projects[i].prefix);
        }
        s += "]";
    }
    s += "}";
    return s;
}

mqtt_settings make_mqtt_settings(const config& c) {
    mqtt_settings s;
    s.uri = c.mqtt.url;
    s.client_id = c.mqtt.client_id;
    s.version = c.mqtt.version;
    s.keep_alive_s = c.mqtt.keep_alive_s;
    s.session_expiry_s = c.mqtt.session_expiry_s;
    s.username = c.mqtt.username;
    s.password = c.mqtt.password;
    s.tls = c.mqtt.tls;
    s.window = c.mqtt.max_inflight;
    s.status_topic = own_status_topic(c);
    s.online_payload = status_payload(c, true);
    s.offline_payload = status_payload(c, false);
    s.filters = project_filters(c);
    s.watch_filters = cluster_takeover::watch_filters(c);
    return s;
}

}  // namespace

bridge::bridge(event_loop& loop, std::shared_ptr<const config> cfg)
    : loop_(loop),
      cfg_(std::move(cfg)),
      http_(loop),
      prober_(loop, http_),
      backends_(prober_),
      broker_tls_check_(loop, http_),
      mqtt_(
          loop, &broker_tls_check_, make_mqtt_settings(*cfg_),
          [this](inbound_message&& m) { on_message(std::move(m)); },
          [this] {
              if (on_ready_)
                  on_ready_();
          },
          nullptr),
      services_{loop, http_, mqtt_, backends_, &metrics_},
      sessions_(loop, mqtt_, http_, backends_, cfg_),
      metrics_publisher_(
          loop, mqtt_, backends_, metrics_, [this] { return active_.size(); }, LLMB_VERSION),
      replay_(replay_limits_of(*cfg_)),
      rng_(std::random_device{}()) {
    backends_.configure(cfg_->backends);
    metrics_publisher_.set_gauges([this](metrics_snapshot& s) {
        s.replay_bytes = replay_.bytes();
        s.replay_entries = replay_.entries();
        s.replay_requests = replay_.requests();
        s.replay_max_bytes = replay_.limits().total_bytes;
    });
    // Backpressure: while more than backlog_high_bytes wait for the broker (slow, or gone
    // for a while), streamed answers are not read on, so that the servers wait instead of
    // the bridge's memory growing; below backlog_low_bytes they go on. Resuming is deferred:
    // it must not run inside the curl callback whose publish ended the backlog.
    mqtt_.set_backlog_handler(backlog_high_bytes, backlog_low_bytes, [this](bool held) {
        if (held) {
            http_.set_paused(true);
            return;
        }
        loop_.defer([this] {
            if (!mqtt_.backlogged())
                http_.set_paused(false);
        });
    });
    for (const auto& p : cfg_->projects) {
        limiters_[p.prefix] = std::make_unique<rate_limiter>(p.rate);
    }
    if (clustered(*cfg_) && cfg_->cluster.takeover)
        takeover_ = std::make_unique<cluster_takeover>(mqtt_, cfg_);
}

bridge::~bridge() {
    if (prune_timer_ != 0)
        loop_.cancel_timer(prune_timer_);
    if (journal_timer_ != 0)
        loop_.cancel_timer(journal_timer_);
    // Requests still here (the loop ended early) get their terminal from their destructors.
    active_.clear();
}

void bridge::start() {
    std::string prefixes;
    for (const auto& p : cfg_->projects)
        prefixes += (prefixes.empty() ? "" : ", ") + p.prefix;
    get_logger("bridge")->info(
        "llm-mqtt-bridge {} starting: broker {}, {} backend(s), projects {}{}", LLMB_VERSION,
        cfg_->mqtt.url, cfg_->backends.size(), prefixes,
        cfg_->source.empty() ? "" : ", config " + cfg_->source);
    end_unfinished();
    sessions_.start();
    mqtt_.start();
    metrics_publisher_.configure(*cfg_);
    prune_limits();
}

void bridge::prune_limits() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& [prefix, limiter] : limiters_)
        limiter->prune(now);
    replay_.expire(now);
    // A peer's stream silent for longer than any request may last has ended unseen.
    if (takeover_)
        takeover_->prune(now);
    prune_timer_ = loop_.add_timer(std::chrono::seconds(30), [this] {
        prune_timer_ = 0;
        prune_limits();
    });
}

void bridge::reload(std::shared_ptr<const config> cfg) {
    const auto& old = *cfg_;
    if (cfg->mqtt.url != old.mqtt.url || cfg->mqtt.client_id != old.mqtt.client_id ||
        cfg->mqtt.version != old.mqtt.version || cfg->mqtt.username != old.mqtt.username ||
        cfg->mqtt.password != old.mqtt.password ||
        cfg->mqtt.max_inflight != old.mqtt.max_inflight) {
        get_logger("bridge")->warn("mqtt connection settings changed: they apply after a restart");
    }
    std::unordered_map<std::string, std::unique_ptr<rate_limiter>> limiters;
    for (const auto& p : cfg->projects) {
        limiters[p.prefix] = std::make_unique<rate_limiter>(p.rate);
    }
    limiters_ = std::move(limiters);
    backends_.configure(cfg->backends);
    replay_.set_limits(replay_limits_of(*cfg));
    cfg_ = std::move(cfg);
    sessions_.reload(cfg_);
    metrics_publisher_.configure(*cfg_);
    mqtt_.set_filters(project_filters(*cfg_));
    get_logger("bridge")->info("configuration reloaded{}: {} project(s), {} backend(s)",
                               cfg_->source.empty() ? "" : " from " + cfg_->source,
                               cfg_->projects.size(), cfg_->backends.size());
}

std::string bridge::key(std::string_view prefix, std::string_view client, std::string_view id) {
    std::string k(prefix);
    k += '\n';
    k += client;
    k += '\n';
    k += id;
    return k;
}

std::string bridge::generate_id() {
    static constexpr char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string id = "gen-";
    std::uint64_t r = rng_();
    for (int i = 0; i < 12; ++i) {
        id += alphabet[r % 36];
        r /= 36;
    }
    return id;
}

void bridge::on_message(inbound_message&& msg) {
    if (takeover_ && takeover_->on_message(msg))
        return;
    for (const auto& project : cfg_->projects) {
        if (project.legacy && msg.topic == protocol::legacy_input_topic(project.prefix)) {
            on_legacy(project, msg.payload);
            return;
        }
        const auto in = protocol::parse_inbound(msg.topic, project.prefix);
        if (!in)
            continue;
        if (!protocol::valid_name(in->client)) {
            // No topic can be built for this client: the message cannot be answered.
            get_logger("bridge")->warn(
                "dropping a message on '{}': the client segment must match "
                "[A-Za-z0-9_.-]{{1,64}}",
                printable(msg.topic));
            return;
        }
        switch (in->kind) {
            case protocol::inbound_kind::request:
                on_request(project, in->client, msg);
                return;
            case protocol::inbound_kind::cancel:
                on_cancel(project, in->client, msg.payload);
                return;
            case protocol::inbound_kind::session:
                sessions_.on_op(project, in->client, msg.payload, generate_id());
                return;
            case protocol::inbound_kind::resume:
                on_resume(project, in->client, msg);
                return;
        }
    }
    get_logger("bridge")->debug("ignoring a message on '{}'", printable(msg.topic));
}

void bridge::on_request(const project_config& project, const std::string& client,
                        const inbound_message& msg) {
    auto decoded = protocol::decode_request(msg.payload, project.request_limits, generate_id());
    // The events go to the v5 Response Topic when it is allowed; never anywhere else.
    std::string topic = protocol::response_topic(project.prefix, client, decoded.id);
    const std::string k = key(project.prefix, client, decoded.id);
    if (!msg.response_topic.empty()) {
        std::string message;
        if (!response_topic_ok(project, client, msg.response_topic, message)) {
            get_logger("bridge")->info("[{}] client={} rejected: {}", decoded.id, client, message);
            metrics_.on_rejected(protocol::error_code::bad_request);
            reply_error(topic, client, decoded.id,
                        {protocol::error_code::bad_request, std::move(message), std::nullopt}, 0,
                        msg.correlation, k);
            return;
        }
        topic = msg.response_topic;
    }
    if (decoded.err) {
        get_logger("bridge")->info("[{}] client={} rejected: {}: {}", decoded.id, client,
                                   protocol::to_string(decoded.err->code), decoded.err->message);
        metrics_.on_rejected(decoded.err->code);
        reply_error(topic, client, decoded.id, *decoded.err, 0, msg.correlation, k);
        return;
    }
    protocol::request& req = *decoded.req;
    const std::size_t request_limit = req.max_packet.value_or(0);
    event_sender sender(mqtt_, cfg_->mqtt.qos, topic,
                        cfg_->mqtt.text_topic ? protocol::text_topic(project.prefix, client, req.id)
                                              : std::string(),
                        req.id, request_limit, cfg_->mqtt.max_packet);
    sender.set_properties(msg.correlation, cfg_->mqtt.chunk_expiry_s);
    sender.set_text_qos(cfg_->mqtt.text_qos);
    if (!sender.feasible()) {
        metrics_.on_rejected(protocol::error_code::bad_request);
        reply_error(topic, client, req.id,
                    {protocol::error_code::bad_request,
                     "max_packet " + std::to_string(sender.limit()) +
                         " is too small for the events of this request (client and id make the "
                         "topic long); allow larger packets or use shorter names",
                     std::nullopt},
                    0, msg.correlation, k);
        return;
    }
    accept(project, client, client, std::move(req), std::move(sender));
}

void bridge::on_legacy(const project_config& project, std::string_view payload) {
    auto decoded =
        protocol::decode_legacy(payload, project.prefix, project.request_limits, generate_id());
    if (decoded.err) {
        get_logger("bridge")->info("legacy message on {} rejected: {}",
                                   protocol::legacy_input_topic(project.prefix),
                                   decoded.err->message);
        metrics_.on_rejected(decoded.err->code);
        if (!decoded.reply_topic.empty()) {
            event_sender::legacy(mqtt_, cfg_->mqtt.qos, decoded.reply_topic, "legacy",
                                 cfg_->mqtt.max_packet)
                .send_error(*decoded.err);
        }
        return;
    }
    if (decoded.reply_topic.empty()) {
        get_logger("bridge")->warn(
            "legacy message with sessionId '{}' dropped: it cannot be "
            "a topic level and no replyTopic was given",
            printable(decoded.session_id));
        return;
    }
    auto sender = event_sender::legacy(mqtt_, cfg_->mqtt.qos, decoded.reply_topic, decoded.req->id,
                                       cfg_->mqtt.max_packet);
    // Old clients have no client name: limits apply per sessionId, sessions to "legacy".
    const std::string limit_key =
        decoded.req->session ? "legacy." + *decoded.req->session : std::string("legacy");
    accept(project, "legacy", limit_key, std::move(*decoded.req), std::move(sender));
}

void bridge::accept(const project_config& project, const std::string& client,
                    const std::string& limit_name, protocol::request req, event_sender sender) {
    const std::string k = key(project.prefix, client, req.id);
    auto refuse = [&](protocol::error_code code, std::string message,
                      std::optional<std::uint32_t> retry_after) {
        get_logger("bridge")->info("[{}] client={} refused: {}: {}", req.id, client,
                                   protocol::to_string(code), message);
        metrics_.on_rejected(code);
        // Held for resume (a device that was away learns why), unless a request with this id is
        // in flight: its events stay what is held.
        const bool keep = active_.count(k) == 0;
        if (keep)
            sender.keep_in(replay_, k);
        if (!sender.send_error({code, std::move(message), retry_after})) {
            reply_error(sender.topic(), client, req.id, {code, message, retry_after}, 0,
                        sender.correlation(), k);
        }
        if (keep)
            replay_.finish(k, std::chrono::steady_clock::now());
    };
    if (stopping_) {
        refuse(protocol::error_code::shutting_down,
               "the bridge is shutting down; send the request again in a moment", 1000);
        return;
    }
    if (active_.count(k) != 0) {
        // Most likely a QoS 1 redelivery; answering would corrupt the stream in flight.
        get_logger("bridge")->warn("[{}] client={} ignored: a request with this id is in flight",
                                   req.id, client);
        return;
    }
    if (active_.size() >= cfg_->max_in_flight) {
        refuse(protocol::error_code::overloaded,
               "the bridge has too many requests in flight; try again shortly", 1000);
        return;
    }
    const std::string client_key = project.prefix + '\n' + limit_name;
    auto per_client = per_client_.find(client_key);
    if (per_client != per_client_.end() &&
        per_client->second >= project.max_concurrent_per_client) {
        refuse(protocol::error_code::rate_limited,
               "this client already has " + std::to_string(per_client->second) +
                   " requests in flight, the most allowed; wait for one to finish",
               500);
        return;
    }
    std::uint32_t retry_after = 0;
    if (!limiters_.at(project.prefix)
             ->try_acquire(client_key, std::chrono::steady_clock::now(), retry_after)) {
        refuse(protocol::error_code::rate_limited,
               "this client sends requests faster than allowed; slow down", retry_after);
        return;
    }
    if (journal_.enabled())
        sender.record_in(journal_, project.prefix, client);
    sender.keep_in(replay_, k);
    auto turn = sessions_.prepare(project, client, req);
    apply_project_defaults(req, project);
    auto stream = std::make_unique<request_stream>(services_, cfg_, project, client, std::move(req),
                                                   std::move(sender),
                                                   [this](request_stream& s) { on_finished(s); });
    request_stream& ref = *stream;
    if (turn) {
        ref.attach_session(std::move(*turn),
                           [this](const session_turn& t, std::string_view answer,
                                  const std::optional<protocol::token_usage>& usage) {
                               sessions_.store(t, answer, usage);
                           });
    }
    ref.set_limit_key(client_key);
    active_.emplace(k, std::move(stream));
    ++per_client_[client_key];
    ref.begin();
}

void bridge::on_cancel(const project_config& project, const std::string& client,
                       std::string_view payload) {
    const auto c = protocol::decode_cancel(payload);
    if (c.err) {
        const std::string id = generate_id();
        reply_error(protocol::response_topic(project.prefix, client, id), client, id, *c.err, 0);
        return;
    }
    auto it = active_.find(key(project.prefix, client, *c.id));
    if (it == active_.end()) {
        get_logger("bridge")->debug("[{}] client={} cancel ignored: not in flight", *c.id, client);
        return;
    }
    it->second->cancel();
}

void bridge::on_finished(request_stream& stream) {
    ++served_;
    const std::string& prefix = stream.project().prefix;
    auto pc = per_client_.find(stream.limit_key());
    if (pc != per_client_.end() && --pc->second == 0)
        per_client_.erase(pc);
    const std::string k = key(prefix, stream.client(), stream.id());
    replay_.finish(k, std::chrono::steady_clock::now());
    auto it = active_.find(k);
    if (it != active_.end()) {
        std::shared_ptr<request_stream> done(std::move(it->second));
        active_.erase(it);
        loop_.defer([done] {});  // destroyed after the current callback returns
    }
    if (stopping_ && active_.empty())
        finish_shutdown();
}

void bridge::shutdown(std::function<void()> done) {
    if (stopping_)
        return;
    stopping_ = true;
    on_stopped_ = std::move(done);
    get_logger("bridge")->info("shutting down: {} requests in flight, grace {} ms", active_.size(),
                               cfg_->grace.count());
    if (active_.empty()) {
        finish_shutdown();
        return;
    }
    grace_timer_ = loop_.add_timer(cfg_->grace, [this] {
        grace_timer_ = 0;
        std::vector<request_stream*> left;
        for (auto& [k, s] : active_)
            left.push_back(s.get());
        for (auto* s : left) {
            s->fail({protocol::error_code::shutting_down,
                     "the bridge is shutting down; send the request again in a moment", 1000});
        }
    });
}

void bridge::finish_shutdown() {
    if (shutdown_started_)
        return;
    shutdown_started_ = true;
    if (grace_timer_ != 0)
        loop_.cancel_timer(grace_timer_);
    if (prune_timer_ != 0) {
        loop_.cancel_timer(prune_timer_);
        prune_timer_ = 0;
    }
    sessions_.stop();
    metrics_publisher_.stop();
    if (journal_timer_ != 0) {
        loop_.cancel_timer(journal_timer_);
        journal_timer_ = 0;
    }
    mqtt_.shutdown(std::chrono::milliseconds(5000), [this] {
        // What the broker took is over; what it did not is ended at the next start.
        journal_.sweep(mqtt_.settled_through());
        journal_.flush();
        get_logger("bridge")->info("stopped after serving {} requests", served_);
        if (on_stopped_)
            on_stopped_();
    });
}

}  // namespace llmb
