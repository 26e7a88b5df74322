#include "daemon/requests/replay_store.hpp"

#include <algorithm>
#include <utility>

namespace llmb {

replay_store::replay_store(replay_limits limits) : limits_(limits) {}

void replay_store::set_limits(const replay_limits& limits) {
    limits_ = limits;
    std::vector<std::string> keys;
    keys.reserve(held_.size());
    for (const auto& [key, r] : held_)
        keys.push_back(key);
    for (const auto& key : keys) {
        const auto it = held_.find(key);
        if (it != held_.end())
            bound(it);
    }
}

std::uint64_t replay_store::first_seq(const held_request& r) noexcept {
    return r.events.empty() ? r.next_seq : r.events.front().seq;
}

void replay_store::open(const std::string& key, std::string topic, std::string correlation) {
    const auto old = held_.find(key);
    if (old != held_.end())
        drop(old);
    held_request r;
    r.topic = std::move(topic);
    r.correlation = std::move(correlation);
    held_.emplace(key, std::move(r));
}

void replay_store::record(const std::string& key, std::uint64_t seq, std::string payload) {
    const auto it = held_.find(key);
    if (it == held_.end())
        return;
    held_request& r = it->second;
    if (!r.events.empty() && r.events.back().seq == seq) {
        held_event& last = r.events.back();
        bytes_ = bytes_ - last.payload.size() + payload.size();
        r.bytes = r.bytes - last.payload.size() + payload.size();
        last.payload = std::move(payload);
    } else {
        if (r.next_seq != 0 && seq + 1 == r.next_seq)
            return;  // replaces an event that is no longer held: it stays gone
        if (seq != r.next_seq) {
            while (!r.events.empty())
                drop_front(it);
        }
        if (r.events.empty() && !r.finished)
            running_.emplace(order_, key);
        bytes_ += payload.size();
        r.bytes += payload.size();
        ++entries_;
        r.events.push_back({seq, order_++, std::move(payload)});
        r.next_seq = seq + 1;
    }
    bound(it);
}

void replay_store::finish(const std::string& key, time_point now) {
    const auto it = held_.find(key);
    if (it == held_.end() || it->second.finished)
        return;
    held_request& r = it->second;
    if (!r.events.empty())
        running_.erase(r.events.front().order);
    r.finished = true;
    r.expires = now + limits_.ttl;
    r.finish_order = order_++;
    finished_.emplace(r.finish_order, key);
    expire(now);
}

void replay_store::expire(time_point now) {
    // Requests finish in time order (now never goes back), so the expired ones come first. After
    // a reload shortened the ttl a later one may expire first: find() already treats it as gone,
    // and it goes once those before it do.
    while (!finished_.empty()) {
        const auto it = held_.find(finished_.begin()->second);
        if (it->second.expires > now)
            break;
        drop(it);
    }
}

void replay_store::drop_front(held_map::iterator it) {
    held_request& r = it->second;
    held_event& e = r.events.front();
    if (!r.finished)
        running_.erase(e.order);
    bytes_ -= e.payload.size();
    r.bytes -= e.payload.size();
    --entries_;
    r.events.pop_front();
    if (!r.finished && !r.events.empty())
        running_.emplace(r.events.front().order, it->first);
}

void replay_store::drop(held_map::iterator it) {
    held_request& r = it->second;
    if (r.finished)
        finished_.erase(r.finish_order);
    else if (!r.events.empty())
        running_.erase(r.events.front().order);
    bytes_ -= r.bytes;
    entries_ -= r.events.size();
    held_.erase(it);
}

void replay_store::bound(held_map::iterator it) {
    while (it->second.bytes > limits_.request_bytes && !it->second.events.empty())
        drop_front(it);
    bound_total();
}

void replay_store::bound_total() {
    while (bytes_ > limits_.total_bytes) {
        if (!finished_.empty()) {
            drop(held_.find(finished_.begin()->second));
            continue;
        }
        if (running_.empty())
            break;
        drop_front(held_.find(running_.begin()->second));
    }
}

replay_store::lookup replay_store::find(const std::string& key, std::uint64_t from_seq,
                                        time_point now) const {
    lookup out;
    const auto it = held_.find(key);
    if (it == held_.end() || (it->second.finished && it->second.expires <= now))
        return out;
    const held_request& r = it->second;
    out.topic = r.topic;
    out.correlation = r.correlation;
    out.finished = r.finished;
    out.first_seq = first_seq(r);
    if (from_seq < out.first_seq) {
        out.result = outcome::evicted;
        return out;
    }
    out.result = outcome::replay;
    for (auto e = r.events.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(
                                         from_seq - out.first_seq, r.events.size()));
         e != r.events.end(); ++e)
        out.payloads.push_back(e->payload);
    return out;
}

}  // namespace llmb
