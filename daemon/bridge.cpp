#include "daemon/bridge.hpp"

#include <unistd.h>

#include <vector>

#include "daemon/log.hpp"
#include "protocol/envelope.hpp"
#include "protocol/json_text.hpp"
#include "protocol/topics.hpp"

namespace llmb {

namespace {

// A topic segment made printable for a log line: hostile input must not forge log lines.
std::string printable(std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, 80)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    if (s.size() > 80) out += "...";
    return out;
}

mqtt_settings make_mqtt_settings(const bridge_options& o, std::string online,
                                 std::string offline) {
    mqtt_settings s;
    s.uri = o.mqtt_uri;
    s.client_id = o.client_id;
    s.version = o.mqtt_version;
    s.keep_alive_s = o.keep_alive_s;
    s.status_topic = protocol::status_topic(o.prefix);
    s.online_payload = std::move(online);
    s.offline_payload = std::move(offline);
    s.filters = {protocol::request_filter(o.prefix), protocol::cancel_filter(o.prefix)};
    return s;
}

}  // namespace

bridge::bridge(event_loop& loop, const bridge_options& options)
    : loop_(loop),
      opts_(options),
      http_(loop),
      mqtt_(loop, make_mqtt_settings(options, status_payload(true), status_payload(false)),
            [this](inbound_message&& m) { on_message(std::move(m)); }, nullptr, nullptr),
      services_{loop, http_, mqtt_, opts_},
      rng_(std::random_device{}()) {}

bridge::~bridge() {
    // Requests still here (the loop ended early) get their terminal from their destructors.
    active_.clear();
}

std::string bridge::status_payload(bool online) const {
    std::string s = "{\"state\":";
    s += online ? "\"online\"" : "\"offline\"";
    s += ",\"client_id\":";
    protocol::append_json_string(s, opts_.client_id);
    if (online) {
        s += ",\"version\":\"" LLMB_VERSION "\",\"pid\":" + std::to_string(getpid());
        s += ",\"prefix\":";
        protocol::append_json_string(s, opts_.prefix);
    }
    s += "}";
    return s;
}

void bridge::start() {
    get_logger("bridge")->info("llm-mqtt-bridge {} starting: broker {}, LLM server {}, prefix '{}'",
                               LLMB_VERSION, opts_.mqtt_uri, opts_.llm_url, opts_.prefix);
    mqtt_.start();
}

std::string bridge::key(std::string_view client, std::string_view id) {
    std::string k(client);
    k += '/';
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
    const auto in = protocol::parse_inbound(msg.topic, opts_.prefix);
    if (!in) {
        get_logger("bridge")->debug("ignoring a message on '{}'", printable(msg.topic));
        return;
    }
    if (!protocol::valid_name(in->client)) {
        // No topic can be built for this client: the message cannot be answered.
        get_logger("bridge")->warn(
            "dropping a message on '{}': the client segment must match [A-Za-z0-9_.-]{{1,64}}",
            printable(msg.topic));
        return;
    }
    switch (in->kind) {
        case protocol::inbound_kind::request:
            on_request(in->client, msg.payload);
            break;
        case protocol::inbound_kind::cancel:
            on_cancel(in->client, msg.payload);
            break;
        case protocol::inbound_kind::session:
            reply_error(in->client, generate_id(),
                        {protocol::error_code::bad_request,
                         "session operations are not supported by this bridge version",
                         std::nullopt},
                        0);
            break;
    }
}

void bridge::on_request(const std::string& client, std::string_view payload) {
    auto decoded = protocol::decode_request(payload, opts_.limits, generate_id());
    if (decoded.err) {
        get_logger("bridge")->info("[{}] client={} rejected: {}: {}", decoded.id, client,
                                   protocol::to_string(decoded.err->code), decoded.err->message);
        reply_error(client, decoded.id, *decoded.err, 0);
        return;
    }
    protocol::request& req = *decoded.req;
    const std::size_t request_limit = req.max_packet.value_or(0);
    if (stopping_) {
        reply_error(client, req.id,
                    {protocol::error_code::shutting_down,
                     "the bridge is shutting down; send the request again in a moment", 1000},
                    request_limit);
        return;
    }
    if (active_.size() >= opts_.max_in_flight) {
        reply_error(client, req.id,
                    {protocol::error_code::overloaded,
                     "the bridge has too many requests in flight; try again shortly", 1000},
                    request_limit);
        return;
    }
    const std::string k = key(client, req.id);
    if (active_.count(k) != 0) {
        // Most likely a QoS 1 redelivery; answering would corrupt the stream in flight.
        get_logger("bridge")->warn("[{}] client={} ignored: a request with this id is in flight",
                                   req.id, client);
        return;
    }
    event_sender sender(mqtt_, opts_.qos, protocol::response_topic(opts_.prefix, client, req.id),
                        opts_.text_topic ? protocol::text_topic(opts_.prefix, client, req.id)
                                         : std::string(),
                        req.id, request_limit, opts_.max_packet);
    if (!sender.feasible()) {
        reply_error(client, req.id,
                    {protocol::error_code::bad_request,
                     "max_packet " + std::to_string(sender.limit()) +
                         " is too small for the events of this request (client and id make the "
                         "topic long); allow larger packets or use shorter names",
                     std::nullopt},
                    0);
        return;
    }
    auto stream = std::make_unique<request_stream>(
        services_, client, std::move(req), std::move(sender),
        [this](request_stream& s) { on_finished(s); });
    request_stream& ref = *stream;
    active_.emplace(k, std::move(stream));
    ref.begin();
}

void bridge::on_cancel(const std::string& client, std::string_view payload) {
    const auto c = protocol::decode_cancel(payload);
    if (c.err) {
        reply_error(client, generate_id(), *c.err, 0);
        return;
    }
    auto it = active_.find(key(client, *c.id));
    if (it == active_.end()) {
        get_logger("bridge")->debug("[{}] client={} cancel ignored: not in flight", *c.id,
                                    client);
        return;
    }
    it->second->cancel();
}

void bridge::reply_error(const std::string& client, const std::string& id,
                         const protocol::error& err, std::size_t request_limit) {
    auto send = [&](std::size_t limit) {
        event_sender s(mqtt_, opts_.qos, protocol::response_topic(opts_.prefix, client, id), "",
                       id, limit, opts_.max_packet);
        return s.send("error", [&](std::uint64_t seq) {
            return protocol::encode_error(id, seq, err);
        });
    };
    // A device's own max_packet that cannot hold the error does not keep the error from it.
    if (!send(request_limit) && (request_limit == 0 || !send(0))) {
        get_logger("bridge")->error("[{}] client={} the error event does not fit the broker's "
                                    "packet limit",
                                    id, client);
    }
}

void bridge::on_finished(request_stream& stream) {
    ++served_;
    auto it = active_.find(key(stream.client(), stream.id()));
    if (it != active_.end()) {
        std::shared_ptr<request_stream> done(std::move(it->second));
        active_.erase(it);
        loop_.defer([done] {});  // destroyed after the current callback returns
    }
    if (stopping_ && active_.empty()) finish_shutdown();
}

void bridge::shutdown(std::function<void()> done) {
    if (stopping_) return;
    stopping_ = true;
    on_stopped_ = std::move(done);
    get_logger("bridge")->info("shutting down: {} requests in flight, grace {} ms",
                               active_.size(), opts_.grace.count());
    if (active_.empty()) {
        finish_shutdown();
        return;
    }
    grace_timer_ = loop_.add_timer(opts_.grace, [this] {
        grace_timer_ = 0;
        std::vector<request_stream*> left;
        for (auto& [k, s] : active_) left.push_back(s.get());
        for (auto* s : left) {
            s->fail({protocol::error_code::shutting_down,
                     "the bridge is shutting down; send the request again in a moment", 1000});
        }
    });
}

void bridge::finish_shutdown() {
    if (shutdown_started_) return;
    shutdown_started_ = true;
    if (grace_timer_ != 0) loop_.cancel_timer(grace_timer_);
    mqtt_.shutdown(std::chrono::milliseconds(5000), [this] {
        get_logger("bridge")->info("stopped after serving {} requests", served_);
        if (on_stopped_) on_stopped_();
    });
}

}  // namespace llmb
