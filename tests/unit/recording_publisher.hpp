// A publisher for unit tests: sizes packets like the broker connection does
// (mqtt_link::properties_size) and keeps what would go to the broker. Like the outbox, it lets a
// message be amended only while it waits: by default every message is handed over at once (a
// link with room in its window); with window_full set, messages wait until hand_over_all().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/mqtt/publisher.hpp"
#include "daemon/requests/event_sender.hpp"
#include "protocol/packet.hpp"

namespace llmb::test {

struct sent {
    std::string topic;
    std::string payload;
    int qos;
    std::optional<publish_properties> props;
};

class recording_publisher final : public publisher {
public:
    std::vector<sent> messages;  // the message with ticket t is messages[t - 1]
    std::size_t broker_limit = 0;
    protocol::mqtt_version v = protocol::mqtt_version::v5;
    bool window_full = false;       // new messages wait instead of being handed over
    std::uint64_t handed = 0;       // messages with a ticket up to this one were handed over
    std::set<std::uint64_t> taken;  // handed over out of turn
    std::size_t amends = 0;

    std::uint64_t publish(std::string topic, std::string payload, int qos, bool,
                          const publish_properties* props) override {
        messages.push_back({std::move(topic), std::move(payload), qos,
                            props ? std::optional<publish_properties>(*props) : std::nullopt});
        if (!window_full)
            handed = messages.size();
        return messages.size();
    }
    bool amend(std::uint64_t ticket, std::string payload) override {
        if (ticket <= handed || ticket > messages.size() || taken.count(ticket) != 0)
            return false;
        messages[ticket - 1].payload = std::move(payload);
        ++amends;
        return true;
    }
    void hand_over_all() { handed = messages.size(); }

    std::size_t broker_max_packet() const noexcept override { return broker_limit; }
    protocol::mqtt_version version() const noexcept override { return v; }
    std::size_t properties_size(const publish_properties& p) const noexcept override {
        if (v != protocol::mqtt_version::v5)
            return 0;
        return protocol::publish_properties_size(p.correlation.size(), p.expiry_s != 0);
    }
    std::uint64_t last_ticket() const noexcept override { return messages.size(); }

    std::size_t packet_size(const sent& m) const {
        return protocol::publish_packet_size(m.topic.size(), m.payload.size(),
                                             m.props ? properties_size(*m.props) : 0, m.qos, v);
    }
    std::vector<sent> on(const std::string& topic) const {
        std::vector<sent> out;
        for (const auto& m : messages) {
            if (m.topic == topic)
                out.push_back(m);
        }
        return out;
    }
};

// The stream both event_sender test files drive: request r7, QoS 1, no request limit.
inline const std::string events_topic = "llm/p/c/r7/events";
inline const std::string text_topic = "llm/p/c/r7/text";

inline event_sender make_sender(recording_publisher& pub, std::size_t config_limit,
                                std::string raw_text_topic = std::string()) {
    return event_sender(pub, 1, events_topic, std::move(raw_text_topic), "r7", 0, config_limit);
}

}  // namespace llmb::test
