#include "daemon/cluster/cluster_tracker.hpp"

#include <algorithm>

#include "protocol/event_peek.hpp"

namespace llmb {

namespace {

std::string stream_key(std::string_view topic, std::string_view id) {
    std::string k;
    k.reserve(topic.size() + 1 + id.size());
    k.append(topic).append(1, '\n').append(id);
    return k;
}

}  // namespace

void cluster_tracker::on_response(std::string_view topic, std::string_view payload,
                                  std::string_view correlation, time_point now) {
    const auto head = protocol::peek_event(payload);
    if (!head)
        return;
    const std::string k = stream_key(topic, head->id);
    if (head->type == "start") {
        if (head->bridge.empty() || head->bridge == self_)
            return;
        streams_[k] = stream{std::string(head->bridge),
                             std::string(topic),
                             std::string(head->id),
                             head->seq,
                             std::string(correlation),
                             now,
                             payload.size()};
        return;
    }
    const auto it = streams_.find(k);
    if (it == streams_.end())
        return;
    if (head->terminal) {
        streams_.erase(it);
        return;
    }
    it->second.last_seq = std::max(it->second.last_seq, head->seq);
    it->second.seen = now;
    it->second.largest_payload = std::max(it->second.largest_payload, payload.size());
}

std::vector<orphaned_request> cluster_tracker::on_status(std::string_view bridge, bool online) {
    std::vector<orphaned_request> out;
    if (bridge == self_)
        return out;
    if (online) {
        online_.emplace(bridge);
        return out;
    }
    if (const auto it = online_.find(bridge); it != online_.end())
        online_.erase(it);
    // The survivor with the smallest id ends the requests; the others only forget them.
    const bool mine = online_.empty() || self_ < *online_.begin();
    for (auto it = streams_.begin(); it != streams_.end();) {
        if (it->second.owner != bridge) {
            ++it;
            continue;
        }
        if (mine) {
            auto& s = it->second;
            out.push_back({std::move(s.owner), std::move(s.topic), std::move(s.id), s.last_seq + 1,
                           std::move(s.correlation), s.largest_payload});
        }
        it = streams_.erase(it);
    }
    std::sort(out.begin(), out.end(), [](const orphaned_request& a, const orphaned_request& b) {
        return a.topic != b.topic ? a.topic < b.topic : a.id < b.id;
    });
    return out;
}

void cluster_tracker::prune(time_point before) {
    std::erase_if(streams_, [&](const auto& kv) { return kv.second.seen < before; });
}

}  // namespace llmb
