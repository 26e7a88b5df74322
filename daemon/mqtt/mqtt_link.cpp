#include "daemon/mqtt/mqtt_link.hpp"

#include <algorithm>

#include "daemon/mqtt/paho_convert.hpp"
#include "daemon/mqtt/tcp_tuning.hpp"
#include "daemon/service/log.hpp"

namespace llmb {

namespace {
constexpr std::chrono::milliseconds max_backoff{5000};
// How long acknowledgements may collect without waking the loop (see choose_wakes).
constexpr std::chrono::milliseconds completion_sweep{100};
}  // namespace

// Runs on the client library's thread: hands a completed delivery to the loop, and wakes it when
// it asked for that (see choose_wakes). The id of the message rides on the delivery as the
// token's user context.
void mqtt_link::on_delivery(const mqtt::token& tok, bool ok) {
    const int reason = ok ? 0 : static_cast<int>(tok.get_reason_code());
    // Only the broker's refusals settle a message; after any other failure (the connection's) it
    // stays held and goes again after the reconnect: nothing to hand over.
    if (!ok && !outbox::refused(reason))
        return;
    const auto id = reinterpret_cast<std::uintptr_t>(tok.get_user_context());
    bool wake = false;
    {
        std::lock_guard<std::mutex> lock(completions_mutex_);
        completions_.push_back(delivery_report{static_cast<std::uint64_t>(id), ok,
                                               ok ? 0 : tok.get_return_code(), reason});
        wake = wake_on_delivery_;
    }
    if (wake)
        loop_.wake();
}

mqtt_link::mqtt_link(event_loop& loop, tls_diagnosis* tls_check, mqtt_settings settings,
                     message_handler on_message, state_handler on_ready, state_handler on_down)
    : loop_(loop),
      tls_check_(tls_check),
      settings_(std::move(settings)),
      on_message_(std::move(on_message)),
      on_ready_(std::move(on_ready)),
      on_down_(std::move(on_down)),
      picker_(settings_.version),
      // The client library is allowed the same window (it is the one on MQTT 3.1.1, where the
      // broker announces none).
      outbox_(settings_.window, settings_.window) {
    // Paho's listeners run on the library's thread: they only count or hand over to the loop.
    delivery_listener_ = std::make_unique<action_callbacks>(
        [this](const mqtt::token& tok) { on_delivery(tok, true); },
        [this](const mqtt::token& tok) { on_delivery(tok, false); });
    connect_listener_ = std::make_unique<action_callbacks>(
        [this](const mqtt::token& tok) {
            // The token object belongs to the client; keep what we need by value.
            loop_.post([this, c = read_connack(tok)] {
                outbox_.limit_packet_size(c.max_packet);
                outbox_.set_receive_maximum(c.receive_max);
                on_connected(c.session_present);
            });
        },
        [this](const mqtt::token& tok) {
            loop_.post([this, rc = tok.get_return_code(),
                        reason = static_cast<int>(tok.get_reason_code())] {
                on_connect_failed(rc, reason);
            });
        });
    subscribe_listener_ = std::make_unique<action_callbacks>(
        [this](const mqtt::token&) { loop_.post([this] { on_subscribed(); }); },
        [this](const mqtt::token& tok) {
            loop_.post([this, rc = tok.get_return_code()] {
                get_logger("mqtt")->error("the broker refused our subscriptions (code {})", rc);
                try {
                    client_->disconnect();
                } catch (const std::exception&) {
                }
                on_lost("subscribe refused");  // the next connection has a new client
            });
        });
    make_client();
    loop_.set_wake_handler([this] { on_deliveries(); });
}

// Every connection gets a client of its own, made before it is tried: Paho fixes the protocol
// version when a client is created (another version is another client), and a client that lost
// its connection may hold a publish it must never send again. Paho C 1.3.12 (MQTTAsync,
// processCommand): when writing a QoS 1 PUBLISH fails because the connection just broke, it
// frees the message's topic and payload but keeps the message among those awaiting PUBACK, and
// on a resumed session sends it again from the freed memory. So the old client goes with its
// state, and the outbox publishes whatever it had unacknowledged again, resumed session or not.
void mqtt_link::make_client() {
    // The new client is made before the old one goes: Paho resets its global state (threads,
    // and the heap records it frees by) when its last client is destroyed, and what it still
    // held from before would leak.
    auto old_client = std::move(client_);
    auto old_options = std::move(conn_opts_);  // kept until the client that used them is gone
    ++client_generation_;
    const bool v5 = version() == protocol::mqtt_version::v5;
    const int version = v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    mqtt::create_options create(version, 1 << 20);
    client_ =
        std::make_unique<mqtt::async_client>(settings_.uri, settings_.client_id, create, nullptr);
    keep_paho_trace_to_errors();

    conn_opts_ = make_connect_options(settings_, v5, static_cast<int>(settings_.window));

    client_->set_message_callback([this](mqtt::const_message_ptr msg) {
        loop_.post([this, msg] { on_message_(to_inbound(*msg)); });
    });
    // A loss is of the client that reported it: one that comes after its client was replaced
    // (both handlers below may report the same loss) is old news.
    const std::uint64_t generation = client_generation_;
    client_->set_connection_lost_handler([this, generation](const std::string& cause) {
        loop_.post([this, generation, cause] {
            if (generation == client_generation_)
                on_lost(cause.empty() ? "connection lost" : cause);
        });
    });
    // MQTT 5: a broker that ends the connection sends DISCONNECT with a reason, which Paho
    // reports here and not as a lost connection.
    client_->set_disconnected_handler(
        [this, generation](const mqtt::properties&, mqtt::ReasonCode reason) {
            const int code = static_cast<int>(reason);
            loop_.post([this, generation, code] {
                if (generation == client_generation_)
                    on_lost("the broker disconnected us (reason " + std::to_string(code) + ")");
            });
        });

    if (old_client) {
        try {
            old_client->set_message_callback(nullptr);
            old_client->set_connection_lost_handler(nullptr);
            old_client->set_disconnected_handler(nullptr);
        } catch (const std::exception&) {
        }
        connect_token_.reset();
        old_client.reset();
        // After the client is gone no delivery of it can come in any more: those it reported
        // settle first, and what is left unacknowledged goes again.
        republish_unacknowledged();
    }
}

mqtt_link::~mqtt_link() {
    if (tls_check_)
        tls_check_->cancel();
    loop_.set_wake_handler(nullptr);
    if (sweep_timer_ != 0)
        loop_.cancel_timer(sweep_timer_);
    // Paho refuses (throws) while a connect is in progress: each handler on its own, so that one
    // refusal leaves the others cleared.
    const auto clear = [](auto&& set) {
        try {
            set();
        } catch (const std::exception&) {
        }
    };
    clear([this] { client_->set_message_callback(nullptr); });
    clear([this] { client_->set_connection_lost_handler(nullptr); });
    clear([this] { client_->set_disconnected_handler(nullptr); });
    if (client_->is_connected()) {
        try {
            client_->disconnect(std::chrono::milliseconds(0).count())->wait_for(1000);
        } catch (const std::exception&) {
        }
    }
    // The client goes first, with its threads when it is the process's last one: until then they
    // may still report a delivery or a connect through the listeners and the completion queue,
    // which are members declared after it and so would otherwise be destroyed before it.
    client_.reset();
}

void mqtt_link::start() {
    if (uses_tls() && settings_.tls.insecure) {
        get_logger("mqtt")->warn(
            "mqtt.tls.insecure is set: the broker's certificate and host name are NOT checked; "
            "anyone in between can read and change the traffic");
    }
    connect_now();
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
        // No answer from the broker: find out whether TLS was the problem, then log.
        if (uses_tls() && !stopping_ && tls_check_ != nullptr &&
            tls_check_->start(settings_.uri, settings_.tls, rc,
                              [this](std::string words) { on_tls_checked(words); }))
            return;
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

void mqtt_link::on_tls_checked(const std::string& why) {
    if (stopping_)
        return;
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
    // Whatever the last connection left unacknowledged was queued again, in order and before
    // anything newer, when its client was replaced (make_client); devices drop the duplicates
    // by seq. A resumed session keeps the subscriptions and what the broker holds for us.
    check_backlog();
    get_logger("mqtt")->info(
        "connected to {} (MQTT {}, broker max packet {}, {})", settings_.uri,
        version() == protocol::mqtt_version::v5 ? "5"
        : picker_.fell_back()                   ? "3.1.1, kept while the bridge runs"
                                                : "3.1.1",
        broker_max_packet() == 0 ? std::string("none") : std::to_string(broker_max_packet()),
        !persistent()     ? "clean start"
        : session_present ? "session resumed"
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
    outbox_.enqueue(outbound_message{settings_.status_topic, settings_.online_payload, 1, true,
                                     publish_properties{}, 0},
                    true);
    check_backlog();
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
    make_client();  // the next connection's
    if (was_ready && on_down_)
        on_down_();
    schedule_reconnect();
}

void mqtt_link::on_deliveries() {
    take_completions();
    pump();
    maybe_finish_shutdown();
}

// Waking the loop for every acknowledgement costs a system call on each side and a switch of
// threads, about as much as the PUBLISH itself when one request streams at a time. The loop
// needs a completion at once only when something waits on it: messages waiting for room in the
// window, a shutdown draining the queue, or the backlog marks. Otherwise completions collect and
// are taken on the next wake for any reason, and at the latest by a sweep a moment later, so
// what is held stays bounded by the window and settles soon.
void mqtt_link::choose_wakes() {
    const bool prompt = outbox_.waiting() != 0 || stopping_ || outbox_.backlogged();
    if (prompt != wake_on_delivery_local_) {
        wake_on_delivery_local_ = prompt;
        bool pending = false;
        {
            std::lock_guard<std::mutex> lock(completions_mutex_);
            wake_on_delivery_ = prompt;
            pending = !completions_.empty();
        }
        // Those that came in while no wake was asked for are wanted now.
        if (prompt && pending)
            loop_.wake();
    }
    if (!prompt && outbox_.in_flight() != 0 && sweep_timer_ == 0) {
        sweep_timer_ = loop_.add_timer(completion_sweep, [this] {
            sweep_timer_ = 0;
            on_deliveries();
        });
    }
}

void mqtt_link::take_completions() {
    {
        std::lock_guard<std::mutex> lock(completions_mutex_);
        completions_taken_.swap(completions_);
    }
    for (const auto& d : completions_taken_) {
        if (d.ok) {
            outbox_.acknowledged(d.id);
        } else if (outbox_.failed(d.id, d.reason)) {
            get_logger("mqtt")->warn("the broker refused a publish (code {}, reason {})", d.rc,
                                     d.reason);
        }
        check_backlog();
    }
    completions_taken_.clear();
}

// When a client is replaced: the held QoS 1 messages go back to the front of the queue in their
// order (their bytes are still counted), QoS 0 ones are let go.
void mqtt_link::republish_unacknowledged() {
    take_completions();  // those acknowledged before the connection went
    const std::size_t again = outbox_.republish_unacknowledged();
    if (again != 0) {
        get_logger("mqtt")->info(
            "{} messages the broker did not acknowledge go again on the next connection", again);
    }
    check_backlog();
}

std::uint64_t mqtt_link::publish(std::string topic, std::string payload, int qos, bool retain,
                                 const publish_properties* props) {
    const std::uint64_t ticket = outbox_.enqueue(outbound_message{
        std::move(topic), std::move(payload), qos, retain,
        props != nullptr && version() == protocol::mqtt_version::v5 ? *props : publish_properties{},
        0});
    check_backlog();
    pump();
    return ticket;
}

bool mqtt_link::amend(std::uint64_t ticket, std::string payload) {
    if (!outbox_.amend(ticket, std::move(payload)))
        return false;
    check_backlog();
    choose_wakes();
    return true;
}

void mqtt_link::set_backlog_handler(std::size_t high, std::size_t low,
                                    std::function<void(bool)> on_change) {
    outbox_.set_marks(high, low);
    on_backlog_ = std::move(on_change);
    check_backlog();
}

void mqtt_link::check_backlog() {
    if (!on_backlog_ || !outbox_.check_backlog())
        return;
    const bool now = outbox_.backlogged();
    // Debug only: under a sustained flood this flips often.
    if (now)
        get_logger("mqtt")->debug("{} bytes wait for the broker: holding answers back",
                                  outbox_.bytes());
    else
        get_logger("mqtt")->debug("{} bytes wait for the broker: answers go on", outbox_.bytes());
    on_backlog_(now);
}

std::size_t mqtt_link::properties_size(const publish_properties& props) const noexcept {
    return publish_properties_size(props, version());
}

void mqtt_link::pump() {
    while (ready_) {
        const outbound_message* m = outbox_.next();
        if (m == nullptr)
            break;
        // A packet over the broker's limit would cost the connection: it is dropped instead,
        // at sending time, when the limit is known. (Response events are split to fit
        // beforehand; this guards status and metrics.)
        if (const std::size_t size = outbox_.oversize(version()); size != 0) {
            get_logger("mqtt")->error(
                "not publishing {} bytes on {}: the broker takes packets of at most {} bytes", size,
                m->topic, broker_max_packet());
            outbox_.drop_next();
            continue;
        }
        try {
            client_->publish(
                to_paho(*m, version() == protocol::mqtt_version::v5),
                reinterpret_cast<void*>(static_cast<std::uintptr_t>(outbox_.next_id())),
                *delivery_listener_);
        } catch (const mqtt::exception& e) {
            // The client refused (disconnected or its buffer is full): keep the message.
            get_logger("mqtt")->debug("publish deferred: {}", e.what());
            break;
        }
        ++published_;
        outbox_.hand_over();  // held until its delivery completes
    }
    check_backlog();
    choose_wakes();
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
    choose_wakes();  // the drain waits on every acknowledgement
    shutdown_timer_ = loop_.add_timer(drain_limit, [this] {
        shutdown_timer_ = 0;
        get_logger("mqtt")->warn("{} messages not delivered before the shutdown deadline",
                                 outbox_.waiting() + outbox_.in_flight());
        finish_shutdown();
    });
    maybe_finish_shutdown();
}

void mqtt_link::maybe_finish_shutdown() {
    if (stopping_ && outbox_.drained())
        finish_shutdown();
}

void mqtt_link::finish_shutdown() {
    if (shutdown_done_)
        return;
    shutdown_done_ = true;
    ready_ = false;
    if (shutdown_timer_ != 0)
        loop_.cancel_timer(shutdown_timer_);
    if (sweep_timer_ != 0) {
        loop_.cancel_timer(sweep_timer_);
        sweep_timer_ = 0;
    }
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
