#include "broker_client.hpp"

#include <cstdio>

namespace llmb::cli {

void await(const mqtt::token_ptr& tok, const std::string& what) {
    try {
        if (!tok->wait_for(broker_timeout)) {
            throw connection_error(what + ": the broker did not answer in time");
        }
    } catch (const mqtt::exception& e) {
        throw connection_error(what + ": " + e.what());
    }
}

broker_client::broker_client(const std::string& url, const std::string& client_id,
                             protocol::version_choice version, inbound_queue& queue)
    : url_(url), client_id_(client_id), queue_(queue), picker_(version) {
    make_client();
}

void broker_client::make_client() {
    client_.reset();
    const int v = version() == protocol::mqtt_version::v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    client_ =
        std::make_unique<mqtt::async_client>(url_, client_id_, mqtt::create_options(v), nullptr);
    // The library's thread only hands over; the main thread does everything else.
    inbound_queue& queue = queue_;
    client_->set_message_callback([&queue](mqtt::const_message_ptr msg) {
        queue.push(inbound{inbound::kind::message, std::move(msg), 0, {}});
    });
    client_->set_connection_lost_handler([&queue](const std::string& cause) {
        queue.push(inbound{inbound::kind::connection_lost, nullptr, 0, cause});
    });
    client_->set_disconnected_handler([&queue](const mqtt::properties&, mqtt::ReasonCode rc) {
        queue.push(inbound{
            inbound::kind::connection_lost, nullptr, 0,
            "the broker disconnected us (reason " + std::to_string(static_cast<int>(rc)) + ")"});
    });
}

broker_client::~broker_client() {
    try {
        if (client_->is_connected()) {
            client_->disconnect()->wait_for(std::chrono::seconds(1));
        }
    } catch (const mqtt::exception&) {
        // Leaving anyway: the broker drops the connection.
    }
}

void broker_client::connect() {
    using protocol::connect_failure;
    for (;;) {
        const bool v5 = version() == protocol::mqtt_version::v5;
        auto builder = mqtt::connect_options_builder()
                           .mqtt_version(v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1)
                           .keep_alive_interval(std::chrono::seconds(30))
                           .connect_timeout(broker_timeout);
        if (v5) {
            builder.clean_start(true);
        } else {
            builder.clean_session(true);
        }
        auto tok = client_->connect(builder.finalize());
        connect_failure failure = connect_failure::other;
        std::string error;
        try {
            if (!tok->wait_for(broker_timeout)) {
                throw connection_error("cannot connect to " + url_ +
                                       ": the broker did not answer in time");
            }
            picker_.on_connected();
            return;
        } catch (const mqtt::exception& e) {
            failure = protocol::classify_connect_failure(e.get_return_code(), e.get_message());
            error = e.what();
        }
        switch (picker_.on_failure(failure)) {
            case protocol::version_picker::step::fall_back:
                std::fprintf(stderr,
                             "note: %s refused MQTT 5: using MQTT 3.1.1 (no packet limit from the "
                             "broker, Response Topic, Correlation Data or message expiry)\n",
                             url_.c_str());
                make_client();
                continue;
            case protocol::version_picker::step::go_back:
                break;
            case protocol::version_picker::step::retry:
                // Once closed before any CONNACK: once more before falling back.
                if (picker_.choice() == protocol::version_choice::automatic &&
                    version() == protocol::mqtt_version::v5 &&
                    failure == connect_failure::closed_before_connack) {
                    continue;
                }
                break;
        }
        std::string what = "cannot connect to " + url_ + ": " + error;
        if (picker_.choice() == protocol::version_choice::v5 && failure != connect_failure::other) {
            what += "; the broker may not speak MQTT 5 (--mqtt-version auto falls back to 3.1.1)";
        }
        throw connection_error(what);
    }
}

void broker_client::subscribe(const std::string& filter) {
    auto sub = client_->subscribe(filter, 1);
    await(sub, "cannot subscribe to " + filter);
    auto codes = sub->get_subscribe_response().get_reason_codes();
    if (codes.empty()) {
        // For a single filter the library may report the code on the token only.
        codes.push_back(sub->get_reason_code());
    }
    if (static_cast<int>(codes.front()) >= 0x80) {
        throw connection_error("the broker refused the subscription to " + filter);
    }
}

mqtt::delivery_token_ptr broker_client::publish(const std::string& topic,
                                                const std::string& payload) {
    return client_->publish(mqtt::make_message(topic, payload, 1, false));
}

}  // namespace llmb::cli
