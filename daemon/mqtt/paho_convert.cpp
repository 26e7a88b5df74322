#include "daemon/mqtt/paho_convert.hpp"

#include <MQTTAsync.h>

#include <cstdint>
#include <cstdlib>
#include <utility>

namespace llmb {

namespace {

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

// TLS on the connect options themselves (kept alive with them). The trust store is ca_file and/or
// ca_path, or OpenSSL's default paths (the system store) when neither is set.
void apply_tls(mqtt::connect_options& o, const tls_config& t) {
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
    // handshake is checked again by a tls_diagnosis instead.
    o.set_ssl(std::move(ssl));
}

}  // namespace

std::unique_ptr<mqtt::connect_options> make_connect_options(const mqtt_settings& settings, bool v5,
                                                            int max_inflight) {
    const bool persistent = settings.session_expiry_s != 0;
    auto opts = std::make_unique<mqtt::connect_options>();
    auto& o = *opts;
    o.set_mqtt_version(v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    if (v5) {
        o.set_clean_session(false);
        o.set_clean_start(!persistent);
        if (persistent) {
            // On the options object itself, which stays alive (Paho 1.2 keeps a pointer into it).
            mqtt::properties props;
            props.add({mqtt::property::SESSION_EXPIRY_INTERVAL,
                       static_cast<int>(settings.session_expiry_s)});
            o.set_properties(std::move(props));
        }
    } else {
        o.set_clean_session(!persistent);
    }
    o.set_keep_alive_interval(settings.keep_alive_s);
    if (!settings.username.empty())
        o.set_user_name(settings.username);
    if (!settings.password.empty())
        o.set_password(settings.password);
    o.set_max_inflight(max_inflight);
    o.set_connect_timeout(10);
    o.set_automatic_reconnect(false);  // the link reconnects itself to see CONNACK again
    o.set_will(mqtt::will_options(settings.status_topic, settings.offline_payload, 1, true));
    if (settings.uri.rfind("ssl://", 0) == 0)
        apply_tls(o, settings.tls);
    return opts;
}

connack_values read_connack(const mqtt::token& connect_token) {
    connack_values v;
    try {
        const auto rsp = connect_token.get_connect_response();
        v.session_present = rsp.is_session_present();
        const auto& p = rsp.get_properties();
        if (p.contains(mqtt::property::MAXIMUM_PACKET_SIZE))
            v.max_packet = mqtt::get<std::uint32_t>(p, mqtt::property::MAXIMUM_PACKET_SIZE);
        if (p.contains(mqtt::property::RECEIVE_MAXIMUM))
            v.receive_max = mqtt::get<std::uint16_t>(p, mqtt::property::RECEIVE_MAXIMUM);
    } catch (const std::exception&) {
        // No CONNACK properties (MQTT 3.1.1): no broker limits announced.
    }
    return v;
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

mqtt::message_ptr to_paho(const outbound_message& m, bool v5) {
    auto msg = mqtt::message::create(m.topic, m.payload, m.qos, m.retain);
    if (v5 && (!m.props.correlation.empty() || m.props.expiry_s != 0)) {
        mqtt::properties props;
        if (!m.props.correlation.empty())
            props.add({mqtt::property::CORRELATION_DATA, m.props.correlation});
        if (m.props.expiry_s != 0)
            props.add({mqtt::property::MESSAGE_EXPIRY_INTERVAL,
                       static_cast<std::int32_t>(m.props.expiry_s)});
        msg->set_properties(std::move(props));
    }
    return msg;
}

void keep_paho_trace_to_errors() {
    if (std::getenv("MQTT_C_CLIENT_TRACE") == nullptr)
        MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
}

std::string refusal_words(int code) {
    for (const auto& r : refusals) {
        if (r.code == code)
            return r.words;
    }
    return "code " + std::to_string(code);
}

}  // namespace llmb
