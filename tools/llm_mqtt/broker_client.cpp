#include "broker_client.hpp"

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
                             protocol::mqtt_version version, inbound_queue& queue)
    : url_(url),
      version_(version),
      client_(url, client_id,
              mqtt::create_options(version == protocol::mqtt_version::v5 ? MQTTVERSION_5
                                                                         : MQTTVERSION_3_1_1),
              nullptr) {
    // The library's thread only hands over; the main thread does everything else.
    client_.set_message_callback([&queue](mqtt::const_message_ptr msg) {
        queue.push(inbound{inbound::kind::message, std::move(msg), 0, {}});
    });
    client_.set_connection_lost_handler([&queue](const std::string& cause) {
        queue.push(inbound{inbound::kind::connection_lost, nullptr, 0, cause});
    });
    client_.set_disconnected_handler([&queue](const mqtt::properties&, mqtt::ReasonCode rc) {
        queue.push(inbound{
            inbound::kind::connection_lost, nullptr, 0,
            "the broker disconnected us (reason " + std::to_string(static_cast<int>(rc)) + ")"});
    });
}

broker_client::~broker_client() {
    try {
        if (client_.is_connected()) {
            client_.disconnect()->wait_for(std::chrono::seconds(1));
        }
    } catch (const mqtt::exception&) {
        // Leaving anyway: the broker drops the connection.
    }
}

void broker_client::connect() {
    const bool v5 = version_ == protocol::mqtt_version::v5;
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1)
                       .keep_alive_interval(std::chrono::seconds(30))
                       .connect_timeout(broker_timeout);
    if (v5) {
        builder.clean_start(true);
    } else {
        builder.clean_session(true);
    }
    await(client_.connect(builder.finalize()), "cannot connect to " + url_);
}

void broker_client::subscribe(const std::string& filter) {
    auto sub = client_.subscribe(filter, 1);
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
    return client_.publish(mqtt::make_message(topic, payload, 1, false));
}

}  // namespace llmb::cli
