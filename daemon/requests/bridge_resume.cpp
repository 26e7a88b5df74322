// Resume: a device that reconnected asks for the events of one of its requests again, from a seq
// on (PROTOCOL.md, "Resuming"). The replay goes through the same ordered outbox as the live
// events, so everything the stream sends after it comes after it. Also the replies that are the
// only event of a request, and the check of a v5 Response Topic that both use.
#include "daemon/requests/bridge.hpp"
#include "daemon/service/log.hpp"
#include "protocol/resume.hpp"
#include "protocol/topics.hpp"

namespace llmb {

bool bridge::response_topic_ok(const project_config& project, const std::string& client,
                               const std::string& topic, std::string& why) const {
    // The configured prefixes, else the requesting client's own responses
    // ({prefix}/response/{client}/); "{client}" is the requester.
    const auto allowed =
        cfg_->mqtt.response_prefixes.empty()
            ? std::vector<std::string>{protocol::default_response_prefix(project.prefix)}
            : cfg_->mqtt.response_prefixes;
    if (protocol::response_topic_allowed(topic, allowed, client))
        return true;
    why = "the Response Topic '" + printable(topic) + "' is not allowed: it must start with";
    for (std::size_t i = 0; i < allowed.size(); ++i)
        why += (i == 0 ? " '" : " or '") +
               printable(protocol::expand_response_prefix(allowed[i], client)) + "'";
    why += " and have no wildcards";
    return false;
}

void bridge::reply_error(const std::string& topic, const std::string& client, const std::string& id,
                         const protocol::error& err, std::size_t request_limit,
                         const std::string& correlation, const std::string& keep_key) {
    const bool keep = !keep_key.empty() && active_.count(keep_key) == 0;
    const bool sent = event_sender::send_lone_error(
        mqtt_, cfg_->mqtt.qos, topic, id, 0, err, correlation, request_limit, cfg_->mqtt.max_packet,
        keep ? &replay_ : nullptr, keep_key);
    if (keep)
        replay_.finish(keep_key, std::chrono::steady_clock::now());
    if (!sent) {
        get_logger("bridge")->error(
            "[{}] client={} the error event does not fit the broker's packet limit", id, client);
    }
}

void bridge::on_resume(const project_config& project, const std::string& client,
                       const inbound_message& msg) {
    const auto log = get_logger("bridge");
    const auto decoded = protocol::decode_resume(msg.payload);
    if (decoded.err) {
        // Like an unreadable cancel: the answer goes out under a generated id.
        const std::string id = generate_id();
        log->info("[{}] client={} resume rejected: {}", id, client, decoded.err->message);
        reply_error(protocol::response_topic(project.prefix, client, id), client, id, *decoded.err,
                    0, msg.correlation);
        return;
    }
    const protocol::resume_request& want = *decoded.resume;
    const std::string k = key(project.prefix, client, want.id);
    const auto now = std::chrono::steady_clock::now();
    replay_.expire(now);
    auto held = replay_.find(k, want.from_seq, now);
    const bool owned = active_.count(k) != 0;
    if (held.result == replay_store::outcome::unknown && !owned && !cfg_->cluster.group.empty()) {
        // In a cluster another bridge may hold it: only the bridge holding a request answers.
        log->debug("[{}] client={} resume ignored: not held here", want.id, client);
        return;
    }
    // A reply that is not the replay (gone, or a refused Response Topic) goes where the device
    // asked, when it may, and carries from_seq: the seq the device waits for, so that its
    // de-duplication lets it through, and it ends the request for the device.
    std::string topic = protocol::response_topic(project.prefix, client, want.id);
    const auto refuse = [&](protocol::error_code code, std::string message) {
        log->info("[{}] client={} resume from seq {}: {}: {}", want.id, client, want.from_seq,
                  protocol::to_string(code), message);
        if (!event_sender::send_lone_error(mqtt_, cfg_->mqtt.qos, topic, want.id, want.from_seq,
                                           {code, std::move(message), std::nullopt},
                                           msg.correlation, 0, cfg_->mqtt.max_packet)) {
            log->error("[{}] client={} the error event does not fit the broker's packet limit",
                       want.id, client);
        }
    };
    if (!msg.response_topic.empty()) {
        std::string why;
        if (!response_topic_ok(project, client, msg.response_topic, why)) {
            refuse(protocol::error_code::bad_request, std::move(why));
            return;
        }
        topic = msg.response_topic;
    }
    switch (held.result) {
        case replay_store::outcome::replay: {
            log->info("[{}] client={} resumed from seq {}: {} event(s) sent again, {}", want.id,
                      client, want.from_seq, held.payloads.size(),
                      held.finished ? "finished" : "the stream goes on");
            const publish_properties props{held.correlation, 0};
            for (auto& p : held.payloads) {
                mqtt_.publish(held.topic, std::move(p), cfg_->mqtt.qos, false,
                              held.correlation.empty() ? nullptr : &props);
            }
            if (const auto it = active_.find(k); it != active_.end())
                it->second->replay_queued();
            return;
        }
        case replay_store::outcome::evicted:
            refuse(protocol::error_code::gone,
                   "the events of this request from seq " + std::to_string(want.from_seq) +
                       " are no longer held (the oldest held is seq " +
                       std::to_string(held.first_seq) + "); send the request again");
            return;
        case replay_store::outcome::unknown:
            refuse(protocol::error_code::gone,
                   "the bridge holds no events of this request (unknown id, or finished more "
                   "than " +
                       std::to_string(cfg_->resume.ttl.count()) +
                       " s ago, or evicted); send the request again");
            return;
    }
}

}  // namespace llmb
