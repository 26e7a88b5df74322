#include "daemon/cluster/cluster_takeover.hpp"

#include <algorithm>

#include "daemon/requests/event_sender.hpp"
#include "daemon/service/log.hpp"
#include "protocol/legacy.hpp"
#include "protocol/packet.hpp"
#include "protocol/topics.hpp"

namespace llmb {

cluster_takeover::cluster_takeover(mqtt_link& mqtt, std::shared_ptr<const config> cfg)
    : mqtt_(mqtt),
      cfg_(std::move(cfg)),
      self_(cluster_bridge_id(*cfg_)),
      tracker_(self_),
      status_prefix_(protocol::status_topic(cfg_->projects.front().prefix) + "/"),
      prefixes_(cfg_->mqtt.response_prefixes) {
    for (const auto& p : cfg_->projects)
        prefixes_.push_back(p.prefix + "/response/");
}

std::vector<std::string> cluster_takeover::watch_filters(const config& c) {
    std::vector<std::string> f;
    if (c.cluster.group.empty() || !c.cluster.takeover)
        return f;
    f.push_back(protocol::status_topic(c.projects.front().prefix) + "/+");
    for (const auto& p : c.mqtt.response_prefixes)
        f.push_back(protocol::response_prefix_filter(p));  // "{client}" watched as '+'
    for (const auto& p : c.projects)
        f.push_back(p.prefix + "/response/#");
    std::sort(f.begin(), f.end());
    f.erase(std::unique(f.begin(), f.end()), f.end());
    return f;
}

void cluster_takeover::prune(std::chrono::steady_clock::time_point now) {
    tracker_.prune(now - cfg_->timeouts.total - std::chrono::minutes(1));
}

bool cluster_takeover::on_message(const inbound_message& msg) {
    if (msg.topic.size() > status_prefix_.size() && msg.topic.rfind(status_prefix_, 0) == 0) {
        const std::string peer = msg.topic.substr(status_prefix_.size());
        const bool online = msg.payload.find("\"state\":\"online\"") != std::string::npos;
        auto orphans = tracker_.on_status(peer, online);
        if (!online && peer != self_) {
            get_logger("bridge")->info("bridge {} is offline; {} of its requests end here",
                                       printable(peer), orphans.size());
        }
        end_orphans(std::move(orphans));
        return true;
    }
    const bool watched = std::any_of(prefixes_.begin(), prefixes_.end(), [&](const std::string& p) {
        return protocol::under_response_prefix(msg.topic, p);
    });
    if (!watched)
        return false;
    // A response prefix may overlap what the bridge serves: those messages are not events.
    for (const auto& project : cfg_->projects) {
        if (protocol::parse_inbound(msg.topic, project.prefix) ||
            (project.legacy && msg.topic == protocol::legacy_input_topic(project.prefix)))
            return false;
    }
    tracker_.on_response(msg.topic, msg.payload, msg.correlation, std::chrono::steady_clock::now());
    return true;
}

void cluster_takeover::end_orphans(std::vector<orphaned_request> orphans) {
    // The request's own max_packet is not known here. Every packet the dead bridge sent on the
    // stream fitted it, so one as large as the largest of those does; and so does the smallest
    // any request may ask for.
    std::size_t smallest = cfg_->mqtt.max_packet;
    for (const auto& p : cfg_->projects)
        smallest = std::min<std::size_t>(smallest, p.request_limits.min_packet);
    for (auto& o : orphans) {
        const std::size_t seen = protocol::publish_packet_size(
            o.topic.size(), o.largest_payload, mqtt_.properties_size({o.correlation, 0}),
            cfg_->mqtt.qos, mqtt_.version());
        const std::size_t limit = std::max(smallest, seen);
        const protocol::error err{
            protocol::error_code::shutting_down,
            "bridge " + o.owner + " stopped before this request finished; send it again",
            std::nullopt};
        const bool sent =
            event_sender::send_lone_error(mqtt_, cfg_->mqtt.qos, o.topic, o.id, o.next_seq, err,
                                          o.correlation, limit, cfg_->mqtt.max_packet);
        get_logger("bridge")->warn(
            "[{}] ended for bridge {} that stopped: shutting_down at seq {}{}", o.id, o.owner,
            o.next_seq, sent ? "" : " (does not fit)");
    }
}

}  // namespace llmb
