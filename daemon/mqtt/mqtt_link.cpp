#include "daemon/mqtt/mqtt_link.hpp"

#include <algorithm>

#include "daemon/mqtt/tcp_tuning.hpp"
#include "daemon/service/log.hpp"
#include "daemon/upstream/upstream_error.hpp"

namespace llmb {

namespace {
constexpr std::chrono::milliseconds max_backoff{5000};
// Unacknowledged QoS 1 publishes the Paho client may hold (MQTT 3.1.1, or no Receive Maximum).
constexpr std::size_t max_client_inflight = 1024;

// Why the broker refused a connection: CONNACK return codes (3.1.1) and reason codes (5).
struct refusal {
    int code;
    const char* words;
};
constexpr refusal refusals[] = {
    {1, "unsupported protocol version"},
    {2, "client identifier not valid"},
    {3, "server unavailable"},
    {4, "bad user name or password"},
    {5, "not authorized"},
    {0x80, "unspecified error"},
    {0x81, "malformed packet"},
    {0x82, "protocol error"},
    {0x83, "implementation specific error"},
    {0x84, "unsupported protocol version"},
    {0x85, "client identifier not valid"},
    {0x86, "bad user name or password"},
    {0x87, "not authorized"},
    {0x88, "server unavailable"},
    {0x89, "server busy"},
    {0x8A, "banned"},
    {0x8C, "bad authentication method"},
    {0x95, "packet too large"},
    {0x97, "quota exceeded"},
    {0x9C, "use another server"},
    {0x9D, "server moved"},
    {0x9F, "connection rate exceeded"},
};

std::string refusal_words(int code) {
    for (const auto& r : refusals) {
        if (r.code == code)
            return r.words;
    }
    return "code " + std::to_string(code);
}

// ssl://host:port as the URL of a TLS handshake check.
std::string check_url(const std::string& uri) {
    return "https://" + uri.substr(uri.find("://") + 3) + "/";
}

inbound_message to_inbound(const mqtt::message& msg) {
    inbound_message in{msg.get_topic(), msg.get_payload_str(), {}, {}};
    const auto& props = msg.get_properties();
    if (props.contains(mqtt::property::RESPONSE_TOPIC))
        in.response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
    if (props.contains(mqtt::property::CORRELATION_DATA))
        in.correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
    return in;
}

}  // namespace

// Paho listeners run on the library's thread: they only count or hand over to the loop.
// A delivery carries the id of its held message as the token's user context.
class mqtt_link::delivery_listener : public mqtt::iaction_listener {
public:
    explicit delivery_listener(mqtt_link& link) : link_(link) {}
    void on_success(const mqtt::token& tok) override { hand_over(tok); }
    void on_failure(const mqtt::token& tok) override {
        const int rc = tok.get_return_code();
        const int reason = static_cast<int>(tok.get_reason_code());
        // Refused by the broker (a v5 PUBACK reason code): final, not published again. Any
        // other failure is the connection's: the message stays held and goes again after the
        // reconnect.
        const bool refused = reason >= 0x80 && reason < 0xFF;
        if (refused) {
            link_.loop_.post([rc, reason] {
                get_logger("mqtt")->warn("the broker refused a publish (code {}, reason {})", rc,
                                         reason);
            });
            hand_over(tok);
        }
    }

private:
    void hand_over(const mqtt::token& tok) {
        const auto id = reinterpret_cast<std::uintptr_t>(tok.get_user_context());
        {
            std::lock_guard<std::mutex> lock(link_.completions_mutex_);
            link_.completions_.push_back(static_cast<std::uint64_t>(id));
        }
        link_.loop_.wake();
    }

    mqtt_link& link_;
};

class mqtt_link::connect_listener : public mqtt::iaction_listener {
public:
    explicit connect_listener(mqtt_link& link) : link_(link) {}
    void on_success(const mqtt::token& tok) override {
        // The token object belongs to the client; keep what we need by value.
        std::size_t max_packet = 0;
        std::size_t receive_max = 0;
        bool session_present = false;
        try {
            const auto rsp = tok.get_connect_response();
            session_present = rsp.is_session_present();
            const auto& p = rsp.get_properties();
            if (p.contains(mqtt::property::MAXIMUM_PACKET_SIZE)) {
                max_packet = mqtt::get<std::uint32_t>(p, mqtt::property::MAXIMUM_PACKET_SIZE);
            }
            if (p.contains(mqtt::property::RECEIVE_MAXIMUM)) {
                receive_max = mqtt::get<std::uint16_t>(p, mqtt::property::RECEIVE_MAXIMUM);
            }
        } catch (const std::exception&) {
            // No CONNACK properties (MQTT 3.1.1): no broker limits announced.
        }
        link_.loop_.post([l = &link_, max_packet, receive_max, session_present] {
            if (max_packet != 0) {
                l->broker_max_packet_ = l->broker_max_packet_ == 0
                                            ? max_packet
                                            : std::min(l->broker_max_packet_, max_packet);
            }
            l->window_ =
                std::min(l->settings_.window, receive_max != 0 ? receive_max : max_client_inflight);
            l->on_connected(session_present);
        });
    }
    void on_failure(const mqtt::token& tok) override {
        const int rc = tok.get_return_code();
        const int reason = static_cast<int>(tok.get_reason_code());
        link_.loop_.post([l = &link_, rc, reason] { l->on_connect_failed(rc, reason); });
    }

private:
    mqtt_link& link_;
};

class mqtt_link::subscribe_listener : public mqtt::iaction_listener {
public:
    explicit subscribe_listener(mqtt_link& link) : link_(link) {}
    void on_success(const mqtt::token&) override {
        link_.loop_.post([l = &link_] { l->on_subscribed(); });
    }
    void on_failure(const mqtt::token& tok) override {
        const int rc = tok.get_return_code();
        link_.loop_.post([l = &link_, rc] {
            get_logger("mqtt")->error("the broker refused our subscriptions (code {})", rc);
            l->on_lost("subscribe refused");
            try {
                l->client_->disconnect();
            } catch (const std::exception&) {
            }
        });
    }

private:
    mqtt_link& link_;
};

// The TLS handshake with the broker once more, by libcurl with the same settings: its error
// says what Paho cannot (an unknown CA, a certificate for another host, an unusable key).
class mqtt_link::tls_check final : public http_handler {
public:
    tls_check(mqtt_link& link, int rc) : link_(link), rc_(rc) {}
    http_client::transfer_id id = 0;
    bool on_data(long, std::string_view) override { return true; }
    void on_complete(CURLcode result, long, std::string_view error_text) override {
        mqtt_link& link = link_;
        const int rc = rc_;
        link.loop_.defer([holder = std::shared_ptr<tls_check>(std::move(link.tls_check_))] {});
        link.on_tls_checked(rc, result, std::string(error_text));
    }

private:
    mqtt_link& link_;
    int rc_;
};

mqtt_link::mqtt_link(event_loop& loop, http_client& http, mqtt_settings settings,
                     message_handler on_message, state_handler on_ready, state_handler on_down)
    : loop_(loop),
      http_(http),
      settings_(std::move(settings)),
      on_message_(std::move(on_message)),
      on_ready_(std::move(on_ready)),
      on_down_(std::move(on_down)),
      picker_(settings_.version) {
    delivery_listener_ = std::make_unique<delivery_listener>(*this);
    connect_listener_ = std::make_unique<connect_listener>(*this);
    subscribe_listener_ = std::make_unique<subscribe_listener>(*this);
    make_client();
    loop_.set_wake_handler([this] { on_deliveries(); });
}

// Paho fixes the protocol version when a client is created: another version is another client.
void mqtt_link::make_client() {
    if (client_) {
        try {
            client_->set_message_callback(nullptr);
            client_->set_connection_lost_handler(nullptr);
            client_->set_disconnected_handler(nullptr);
        } catch (const std::exception&) {
        }
        connect_token_.reset();
        client_.reset();
        in_flight_ = 0;  // the old client's unacknowledged publishes went with it
    }
    const bool v5 = version() == protocol::mqtt_version::v5;
    const int version = v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    mqtt::create_options create(version, 1 << 20);
    client_ =
        std::make_unique<mqtt::async_client>(settings_.uri, settings_.client_id, create, nullptr);

    conn_opts_ = std::make_unique<mqtt::connect_options>();
    auto& o = *conn_opts_;
    o.set_mqtt_version(version);
    if (v5) {
        o.set_clean_session(false);
        o.set_clean_start(!persistent());
        if (persistent()) {
            // On the options object itself, which stays alive (Paho 1.2 keeps a pointer into it).
            mqtt::properties props;
            props.add({mqtt::property::SESSION_EXPIRY_INTERVAL,
                       static_cast<int>(settings_.session_expiry_s)});
            o.set_properties(std::move(props));
        }
    } else {
        o.set_clean_session(!persistent());
    }
    o.set_keep_alive_interval(settings_.keep_alive_s);
    if (!settings_.username.empty())
        o.set_user_name(settings_.username);
    if (!settings_.password.empty())
        o.set_password(settings_.password);
    o.set_max_inflight(static_cast<int>(max_client_inflight));
    o.set_connect_timeout(10);
    o.set_automatic_reconnect(false);  // we reconnect ourselves to see CONNACK again
    o.set_will(mqtt::will_options(settings_.status_topic, settings_.offline_payload, 1, true));
    if (uses_tls())
        apply_tls();

    client_->set_message_callback([this](mqtt::const_message_ptr msg) {
        loop_.post([this, msg] { on_message_(to_inbound(*msg)); });
    });
    client_->set_connection_lost_handler([this](const std::string& cause) {
        loop_.post([this, cause] { on_lost(cause.empty() ? "connection lost" : cause); });
    });
    // MQTT 5: a broker that ends the connection sends DISCONNECT with a reason, which Paho
    // reports here and not as a lost connection.
    client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode reason) {
        const int code = static_cast<int>(reason);
        loop_.post([this, code] {
            on_lost("the broker disconnected us (reason " + std::to_string(code) + ")");
        });
    });
}

mqtt_link::~mqtt_link() {
    if (tls_check_)
        http_.abort(tls_check_->id);
    try {
        // Paho refuses (throws) while a connect is in progress.
        client_->set_message_callback(nullptr);
        client_->set_connection_lost_handler(nullptr);
        client_->set_disconnected_handler(nullptr);
    } catch (const std::exception&) {
    }
    if (client_->is_connected()) {
        try {
            client_->disconnect(std::chrono::milliseconds(0).count())->wait_for(1000);
        } catch (const std::exception&) {
        }
    }
}

void mqtt_link::start() {
    if (uses_tls() && settings_.tls.insecure) {
        get_logger("mqtt")->warn(
            "mqtt.tls.insecure is set: the broker's certificate and host name are NOT checked; "
            "anyone in between can read and change the traffic");
    }
    connect_now();
}

// TLS on the connect options themselves (kept alive with them). The trust store is ca_file and/or
// ca_path, or OpenSSL's default paths (the system store) when neither is set.
void mqtt_link::apply_tls() {
    const auto& t = settings_.tls;
    mqtt::ssl_options ssl;
    ssl.set_ssl_version(MQTT_SSL_VERSION_TLS_1_2);  // the lowest version accepted
    if (!t.ca_file.empty())
        ssl.set_trust_store(t.ca_file);
    if (!t.ca_path.empty())
        ssl.ca_path(t.ca_path);
    if (!t.cert_file.empty()) {
        ssl.set_key_store(t.cert_file);
        ssl.set_private_key(t.key_file.empty() ? t.cert_file : t.key_file);
        if (!t.key_password.empty())
            ssl.set_private_key_password(t.key_password);
    }
    ssl.set_enable_server_cert_auth(!t.insecure);
    ssl.set_verify(!t.insecure);  // the host name check
    // No ssl_options error handler: Paho C++ 1.2 hands the C library a pointer to a copy of the
    // options that is gone after connect(), and OpenSSL's errors would call through it. A failed
    // handshake is checked again with libcurl instead (tls_check).
    conn_opts_->set_ssl(std::move(ssl));
}

void mqtt_link::set_filters(std::vector<std::string> filters) {
    std::vector<std::string> added;
    std::vector<std::string> removed;
    for (const auto& f : filters) {
        if (std::find(settings_.filters.begin(), settings_.filters.end(), f) ==
            settings_.filters.end())
            added.push_back(f);
    }
    for (const auto& f : settings_.filters) {
        if (std::find(filters.begin(), filters.end(), f) == filters.end())
            removed.push_back(f);
    }
    settings_.filters = std::move(filters);
    if (!ready_)
        return;  // the next connect subscribes the new list
    try {
        if (!added.empty()) {
            std::vector<int> qos(added.size(), 1);
            client_->subscribe(mqtt::string_collection::create(added), qos);
        }
        if (!removed.empty())
            client_->unsubscribe(mqtt::string_collection::create(removed));
    } catch (const mqtt::exception& e) {
        get_logger("mqtt")->error("changing subscriptions failed: {}", e.what());
    }
}

void mqtt_link::connect_now() {
    if (connecting_ || stopping_)
        return;
    connecting_ = true;
    try {
        connect_token_ = client_->connect(*conn_opts_, nullptr, *connect_listener_);
    } catch (const mqtt::exception& e) {
        connecting_ = false;
        get_logger("mqtt")->warn("connect to {} failed: {}", settings_.uri, e.what());
        schedule_reconnect();
    }
}

void mqtt_link::on_connect_failed(int rc, int reason) {
    connecting_ = false;
    std::string text;  // Paho's words for the failure
    if (connect_token_) {
        try {
            connect_token_->try_wait();
        } catch (const mqtt::exception& e) {
            text = e.get_message();
        }
    }
    const auto failure = protocol::classify_connect_failure(rc, text);
    std::string why;
    if (version() == protocol::mqtt_version::v5 && reason >= 0x80 && reason < 0xFF) {
        why = "the broker refused the connection: " + refusal_words(reason);
    } else if (rc > 0) {  // a 3.1.1 CONNACK return code (0xFF above: Paho's "no reason code")
        why = "the broker refused the connection: " + refusal_words(rc);
    } else if (failure == protocol::connect_failure::closed_before_connack && !uses_tls()) {
        // (With TLS the check below says more: a refused client certificate looks the same.)
        why = "the broker closed the connection before answering the CONNECT";
    }
    if (pick_version(failure, why))
        return;
    if (why.empty()) {
        if (uses_tls() && !stopping_) {
            // No answer from the broker: find out whether TLS was the problem, then log.
            http_request req;
            req.url = check_url(settings_.uri);
            req.method = "GET";
            req.connect_only = true;
            req.tls = &settings_.tls;
            tls_check_ = std::make_unique<tls_check>(*this, rc);
            try {
                tls_check_->id = http_.start(req, *tls_check_);
                return;
            } catch (const std::exception&) {
                tls_check_.reset();
            }
        }
        why = "no connection (code " + std::to_string(rc) + ")";
    }
    get_logger("mqtt")->warn("cannot connect to {}: {}; retrying in {} ms", settings_.uri, why,
                             backoff_.count());
    schedule_reconnect();
}

bool mqtt_link::pick_version(protocol::connect_failure failure, const std::string& why) {
    const bool refused_v5 =
        version() == protocol::mqtt_version::v5 && failure != protocol::connect_failure::other;
    switch (picker_.on_failure(failure)) {
        case protocol::version_picker::step::fall_back:
            get_logger("mqtt")->warn(
                "{} refused MQTT 5 ({}): falling back to MQTT 3.1.1 for this broker while the "
                "bridge runs; lost with 3.1.1: the broker's packet limit from CONNACK, Response "
                "Topic and Correlation Data, message expiry, No Local",
                settings_.uri,
                failure == protocol::connect_failure::version_refused
                    ? "its CONNACK says: unsupported protocol version"
                    : "it closed the connection before any CONNACK twice in a row");
            make_client();
            connect_now();
            return true;
        case protocol::version_picker::step::go_back:
            get_logger("mqtt")->warn(
                "cannot connect to {} with MQTT 3.1.1 either ({}): trying MQTT 5 again",
                settings_.uri, why.empty() ? "no connection" : why);
            make_client();
            schedule_reconnect();
            return true;
        case protocol::version_picker::step::retry:
            break;
    }
    if (refused_v5 && picker_.choice() == protocol::version_choice::v5 && !why.empty()) {
        get_logger("mqtt")->warn(
            "cannot connect to {}: {}; the broker may not speak MQTT 5 (mqtt.version is 5; auto "
            "falls back to 3.1.1); retrying in {} ms",
            settings_.uri, why, backoff_.count());
        schedule_reconnect();
        return true;
    }
    return false;
}

void mqtt_link::on_tls_checked(int rc, CURLcode result, const std::string& error_text) {
    if (stopping_)
        return;
    std::string why;
    if (const auto words = tls_failure_words(result, "the broker"); !words.empty()) {
        why = "TLS: " + words + " (" + error_text + ")";
    } else if (result != CURLE_OK) {
        why = "no connection (" + error_text + ")";
    } else {
        why = "the broker closed the connection after the TLS handshake (code " +
              std::to_string(rc) + ")";
        if (settings_.tls.cert_file.empty())
            why += "; does it want a client certificate (tls.cert_file)?";
    }
    get_logger("mqtt")->warn("cannot connect to {}: {}; retrying in {} ms", settings_.uri, why,
                             backoff_.count());
    schedule_reconnect();
}

void mqtt_link::schedule_reconnect() {
    if (stopping_ || reconnect_timer_ != 0)
        return;
    reconnect_timer_ = loop_.add_timer(backoff_, [this] {
        reconnect_timer_ = 0;
        connect_now();
    });
    backoff_ = std::min(backoff_ * 2, max_backoff);
}

void mqtt_link::on_connected(bool session_present) {
    connecting_ = false;
    picker_.on_connected();
    backoff_ = std::chrono::milliseconds(100);
    if (set_nodelay_to_port(broker_port(settings_.uri)) == 0)
        get_logger("mqtt")->debug("found no socket to the broker to set TCP_NODELAY on");
    if (!persistent() || !session_present) {
        // A new session: whatever the old connection left unacknowledged is published again,
        // in order and before anything newer (devices drop the duplicates by seq).
        republish_unacknowledged();
    } else {
        // A resumed session: Paho sends the unacknowledged QoS 1 publishes again itself and
        // their deliveries complete as usual; QoS 0 ones it may have dropped are forgotten.
        std::vector<std::uint64_t> qos0;
        for (std::size_t i = 0; i < held_.size(); ++i) {
            if (!held_[i].done && held_[i].m.qos == 0)
                qos0.push_back(base_id_ + i);
        }
        for (const auto id : qos0)
            complete(id);
    }
    get_logger("mqtt")->info(
        "connected to {} (MQTT {}, broker max packet {}, {})", settings_.uri,
        version() == protocol::mqtt_version::v5 ? "5"
        : picker_.fell_back()                   ? "3.1.1, kept while the bridge runs"
                                                : "3.1.1",
        broker_max_packet_ == 0 ? std::string("none") : std::to_string(broker_max_packet_),
        !persistent()     ? "clean start"
        : session_present ? "session resumed, " + std::to_string(in_flight_) + " in flight"
                          : "new session");
    try {
        // Watched filters first, one by one (Paho 1.2 mishandles options for several filters
        // at once); the broker answers in order, so the last SUBACK, that of the filters,
        // means everything is subscribed.
        const bool v5 = version() == protocol::mqtt_version::v5;
        for (const auto& f : settings_.watch_filters)
            client_->subscribe(f, 1,
                               v5 ? mqtt::subscribe_options(true) : mqtt::subscribe_options());
        auto filters = mqtt::string_collection::create(settings_.filters);
        std::vector<int> qos(settings_.filters.size(), 1);
        client_->subscribe(filters, qos, nullptr, *subscribe_listener_);
    } catch (const mqtt::exception& e) {
        get_logger("mqtt")->error("subscribe failed: {}", e.what());
        on_lost("subscribe failed");
    }
}

void mqtt_link::on_subscribed() {
    if (ready_)
        return;
    // The online status goes before anything queued meanwhile.
    enqueue(
        outbound{settings_.status_topic, settings_.online_payload, 1, true, publish_properties{}},
        true);
    ready_ = true;
    get_logger("mqtt")->info("subscribed to {} filters; online", settings_.filters.size());
    pump();
    if (on_ready_)
        on_ready_();
}

void mqtt_link::on_lost(const std::string& cause) {
    const bool was_ready = ready_;
    ready_ = false;
    connecting_ = false;
    if (stopping_) {
        finish_shutdown();
        return;
    }
    get_logger("mqtt")->warn("connection to {} lost: {}; reconnecting", settings_.uri, cause);
    if (was_ready && on_down_)
        on_down_();
    schedule_reconnect();
}

void mqtt_link::on_deliveries() {
    take_completions();
    pump();
    maybe_finish_shutdown();
}

void mqtt_link::take_completions() {
    {
        std::lock_guard<std::mutex> lock(completions_mutex_);
        completions_taken_.swap(completions_);
    }
    for (const auto id : completions_taken_)
        complete(id);
    completions_taken_.clear();
}

// A delivery completed: its message is no longer held. Ids from before a republish are no
// longer known and are ignored.
void mqtt_link::complete(std::uint64_t id) {
    if (id < base_id_ || id - base_id_ >= held_.size())
        return;
    auto& h = held_[static_cast<std::size_t>(id - base_id_)];
    if (h.done)
        return;
    h.done = true;
    --in_flight_;
    queued_bytes_ -= std::min(queued_bytes_, h.m.topic.size() + h.m.payload.size());
    h.m = outbound{};
    while (!held_.empty() && held_.front().done) {
        held_.pop_front();
        ++base_id_;
    }
    check_backlog();
}

// After a reconnect on which the broker resumed no session: the held QoS 1 messages go back to
// the front of the queue in their order (their bytes are still counted), QoS 0 ones are let go.
void mqtt_link::republish_unacknowledged() {
    take_completions();  // those acknowledged before the connection went
    std::size_t again = 0;
    for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
        if (it->done)
            continue;
        if (it->m.qos == 0) {
            queued_bytes_ -= std::min(queued_bytes_, it->m.topic.size() + it->m.payload.size());
            continue;
        }
        queue_.push_front(std::move(it->m));
        ++again;
    }
    base_id_ += held_.size();
    held_.clear();
    in_flight_ = 0;
    if (again != 0) {
        get_logger("mqtt")->info(
            "the broker kept no session for us: publishing {} unacknowledged messages again",
            again);
    }
    check_backlog();
}

void mqtt_link::publish(std::string topic, std::string payload, int qos, bool retain,
                        const publish_properties* props) {
    enqueue(outbound{std::move(topic), std::move(payload), qos, retain,
                     props != nullptr && version() == protocol::mqtt_version::v5
                         ? *props
                         : publish_properties{}},
            false);
    pump();
}

void mqtt_link::enqueue(outbound m, bool front) {
    m.ticket = ++last_ticket_;
    queued_bytes_ += m.topic.size() + m.payload.size();
    if (front)
        queue_.push_front(std::move(m));
    else
        queue_.push_back(std::move(m));
    check_backlog();
}

std::uint64_t mqtt_link::settled_through() const noexcept {
    std::uint64_t lowest = last_ticket_ + 1;  // the oldest message not settled
    for (const auto& h : held_) {
        if (!h.done)
            lowest = std::min(lowest, h.m.ticket);
    }
    for (const auto& m : queue_)
        lowest = std::min(lowest, m.ticket);
    return lowest - 1;
}

void mqtt_link::drop_front() {
    const auto& m = queue_.front();
    queued_bytes_ -= std::min(queued_bytes_, m.topic.size() + m.payload.size());
    queue_.pop_front();
}

void mqtt_link::set_backlog_handler(std::size_t high, std::size_t low,
                                    std::function<void(bool)> on_change) {
    backlog_high_ = high;
    backlog_low_ = std::min(low, high);
    on_backlog_ = std::move(on_change);
    check_backlog();
}

void mqtt_link::check_backlog() {
    if (backlog_high_ == 0 || !on_backlog_)
        return;
    const bool now = backlogged_ ? queued_bytes_ > backlog_low_ : queued_bytes_ > backlog_high_;
    if (now == backlogged_)
        return;
    backlogged_ = now;
    // Debug only: under a sustained flood this flips often.
    if (now)
        get_logger("mqtt")->debug("{} bytes wait for the broker: holding answers back",
                                  queued_bytes_);
    else
        get_logger("mqtt")->debug("{} bytes wait for the broker: answers go on", queued_bytes_);
    on_backlog_(now);
}

std::size_t mqtt_link::properties_size(const publish_properties& props) const noexcept {
    if (version() != protocol::mqtt_version::v5)
        return 0;
    return protocol::publish_properties_size(props.correlation.size(), props.expiry_s != 0);
}

// A packet over the broker's limit would cost the connection: it is dropped instead, at
// sending time, when the limit is known. (Response events are split to fit beforehand; this
// guards status and metrics.)
bool mqtt_link::too_large(const outbound& m) const {
    if (broker_max_packet_ == 0)
        return false;
    const std::size_t size = protocol::publish_packet_size(
        m.topic.size(), m.payload.size(), properties_size(m.props), m.qos, version());
    if (size <= broker_max_packet_)
        return false;
    get_logger("mqtt")->error(
        "not publishing {} bytes on {}: the broker takes packets of at most "
        "{} bytes",
        size, m.topic, broker_max_packet_);
    return true;
}

void mqtt_link::pump() {
    while (ready_ && !queue_.empty() && in_flight_ < window_) {
        auto& m = queue_.front();
        if (too_large(m)) {
            drop_front();
            continue;
        }
        try {
            auto msg = mqtt::message::create(m.topic, m.payload, m.qos, m.retain);
            if (version() == protocol::mqtt_version::v5 &&
                (!m.props.correlation.empty() || m.props.expiry_s != 0)) {
                mqtt::properties props;
                if (!m.props.correlation.empty())
                    props.add({mqtt::property::CORRELATION_DATA, m.props.correlation});
                if (m.props.expiry_s != 0)
                    props.add({mqtt::property::MESSAGE_EXPIRY_INTERVAL,
                               static_cast<std::int32_t>(m.props.expiry_s)});
                msg->set_properties(std::move(props));
            }
            const std::uint64_t id = base_id_ + held_.size();
            client_->publish(msg, reinterpret_cast<void*>(static_cast<std::uintptr_t>(id)),
                             *delivery_listener_);
        } catch (const mqtt::exception& e) {
            // The client refused (disconnected or its buffer is full): keep the message.
            get_logger("mqtt")->debug("publish deferred: {}", e.what());
            return;
        }
        ++in_flight_;
        ++published_;
        // Held until delivered; its bytes count until then.
        held_.push_back(held{std::move(m), false});
        queue_.pop_front();
    }
    check_backlog();
}

void mqtt_link::shutdown(std::chrono::milliseconds drain_limit, std::function<void()> done) {
    shutdown_cb_ = std::move(done);
    if (reconnect_timer_ != 0) {
        loop_.cancel_timer(reconnect_timer_);
        reconnect_timer_ = 0;
    }
    if (!ready_) {
        stopping_ = true;
        finish_shutdown();
        return;
    }
    publish(settings_.status_topic, settings_.offline_payload, 1, true);
    stopping_ = true;
    shutdown_timer_ = loop_.add_timer(drain_limit, [this] {
        shutdown_timer_ = 0;
        get_logger("mqtt")->warn("{} messages not delivered before the shutdown deadline",
                                 queue_.size() + in_flight_);
        finish_shutdown();
    });
    maybe_finish_shutdown();
}

void mqtt_link::maybe_finish_shutdown() {
    if (stopping_ && queue_.empty() && in_flight_ == 0)
        finish_shutdown();
}

void mqtt_link::finish_shutdown() {
    if (shutdown_done_)
        return;
    shutdown_done_ = true;
    ready_ = false;
    if (shutdown_timer_ != 0)
        loop_.cancel_timer(shutdown_timer_);
    try {
        if (client_->is_connected())
            client_->disconnect()->wait_for(2000);
    } catch (const std::exception& e) {
        get_logger("mqtt")->debug("disconnect: {}", e.what());
    }
    if (shutdown_cb_)
        loop_.defer(std::move(shutdown_cb_));
}

}  // namespace llmb
