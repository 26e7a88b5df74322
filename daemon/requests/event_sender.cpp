#include "daemon/requests/event_sender.hpp"

#include <algorithm>
#include <limits>

#include "protocol/envelope.hpp"
#include "protocol/packet.hpp"

namespace llmb {

namespace {
// Payload bytes a chunk grows to by joining, at most (the packet limit, when smaller, rules).
// Each join encodes the whole chunk again, so its cost grows with the chunk; at 4 KiB a chunk
// carries hundreds of tokens per PUBLISH already, and a join costs a few microseconds.
constexpr std::size_t join_limit = 4096;
}  // namespace

event_sender::event_sender(publisher& mqtt, int qos, std::string topic, std::string text_topic,
                           std::string id, std::size_t request_limit, std::size_t config_limit)
    : mqtt_(mqtt),
      qos_(qos),
      text_qos_(qos),
      topic_(std::move(topic)),
      text_topic_(std::move(text_topic)),
      id_(std::move(id)),
      request_limit_(request_limit),
      config_limit_(config_limit) {}

std::size_t event_sender::limit() const noexcept {
    std::size_t l = config_limit_;
    if (request_limit_ != 0)
        l = std::min(l, request_limit_);
    if (mqtt_.broker_max_packet() != 0)
        l = std::min(l, mqtt_.broker_max_packet());
    return l;
}

void event_sender::set_properties(std::string correlation, std::uint32_t chunk_expiry_s) {
    event_props_.correlation = std::move(correlation);
    chunk_props_ = event_props_;
    chunk_props_.expiry_s = chunk_expiry_s;
    text_props_.expiry_s = chunk_expiry_s;
}

void event_sender::set_text_qos(int qos) noexcept {
    text_qos_ = qos;
}

std::size_t event_sender::text_budget() const noexcept {
    return protocol::max_payload(limit(), text_topic_.size(), mqtt_.properties_size(text_props_),
                                 text_qos_, mqtt_.version());
}

const publish_properties* event_sender::event_props() const noexcept {
    return event_props_.correlation.empty() ? nullptr : &event_props_;
}

std::size_t event_sender::payload_budget(const std::string& topic,
                                         const publish_properties& props) const noexcept {
    return protocol::max_payload(limit(), topic.size(), mqtt_.properties_size(props), qos_,
                                 mqtt_.version());
}

event_sender event_sender::legacy(publisher& mqtt, int qos, std::string reply_topic, std::string id,
                                  std::size_t config_limit) {
    event_sender s(mqtt, qos, std::move(reply_topic), std::string(), std::move(id), 0,
                   config_limit);
    s.legacy_ = true;
    return s;
}

bool event_sender::send_error(const protocol::error& err) {
    if (legacy_) {
        std::string text = "Error: " + err.message;
        if (text.size() > payload_budget(topic_, chunk_props_))
            text.resize(payload_budget(topic_, chunk_props_));
        mqtt_.publish(topic_, std::move(text), qos_, false, event_props());
        return true;
    }
    return send("error", [&](std::uint64_t seq) { return protocol::encode_error(id_, seq, err); });
}

bool event_sender::send_lone_error(publisher& mqtt, int qos, const std::string& topic,
                                   const std::string& id, std::uint64_t seq,
                                   const protocol::error& err, const std::string& correlation,
                                   std::size_t request_limit, std::size_t config_limit,
                                   replay_store* keep, const std::string& key) {
    const auto send = [&](std::size_t limit) {
        event_sender s(mqtt, qos, topic, std::string(), id, limit, config_limit);
        s.set_properties(correlation, 0);
        if (keep != nullptr)
            s.keep_in(*keep, key);
        s.seq_ = seq;
        return s.send_error(err);
    };
    return send(request_limit) || (request_limit != 0 && send(0));
}

bool event_sender::feasible() const noexcept {
    if (legacy_)
        return true;
    if (payload_budget(topic_, chunk_props_) < protocol::min_payload_for(id_))
        return false;
    return text_topic_.empty() || text_budget() >= 4;  // one whole character
}

bool event_sender::send(std::string_view type,
                        const std::function<std::string(std::uint64_t)>& encode) {
    if (legacy_) {
        if (type != "done")
            return true;
        if (legacy_text_.size() > payload_budget(topic_, chunk_props_)) {
            return send_error({protocol::error_code::too_large,
                               "the answer is larger than the broker accepts in one message",
                               std::nullopt});
        }
        mqtt_.publish(topic_, std::move(legacy_text_), qos_, false, nullptr);
        legacy_text_.clear();
        return true;
    }
    last_.ticket = 0;  // nothing joins a chunk across another event
    const std::uint64_t first = seq_;
    const std::string json = encode(seq_);
    auto split = protocol::split_event(id_, seq_, type, json, payload_budget(topic_, chunk_props_));
    if (!split.ok)
        return false;
    // A terminal takes the seq it is sent at: should it never reach the device, the error a
    // restarted bridge sends there does; should it, that error is a duplicate the device drops.
    record_seq(type == "done" || type == "error" ? first : seq_);
    for (std::size_t i = 0; i < split.payloads.size(); ++i)
        publish_event(first + i, std::move(split.payloads[i]), event_props());
    return true;
}

bool event_sender::send_text(std::string_view text, bool reasoning, std::uint64_t& chunks) {
    if (text.empty())
        return true;
    if (legacy_) {
        if (!reasoning)
            legacy_text_.append(text);
        return true;
    }
    text.remove_prefix(join_last_chunk(text, reasoning));
    if (text.empty())
        return true;
    const bool mirror = !text_topic_.empty() && !reasoning;
    const std::size_t raw_limit = mirror ? text_budget() : std::numeric_limits<std::size_t>::max();
    auto split = protocol::split_chunks(id_, seq_, text, reasoning,
                                        payload_budget(topic_, chunk_props_), raw_limit);
    if (!split.ok)
        return false;
    const std::uint64_t first = seq_ - split.payloads.size();
    record_seq(seq_);
    last_ = last_chunk{};
    last_.seq = seq_ - 1;
    last_.reasoning = reasoning;
    last_.text = split.texts.back();
    last_.payload_size = split.payloads.back().size();
    for (std::size_t i = 0; i < split.payloads.size(); ++i) {
        last_.ticket = publish_event(first + i, std::move(split.payloads[i]), &chunk_props_);
        if (mirror) {
            last_.twin_ticket = mqtt_.publish(text_topic_, std::string(split.texts[i]), text_qos_,
                                              false, &text_props_);
        }
    }
    if (mirror)
        last_.twin_text = last_.text;
    chunks += split.payloads.size();
    return true;
}

void event_sender::keep_in(replay_store& store, std::string key) {
    if (legacy_)
        return;
    store.open(key, topic_, event_props_.correlation);
    replay_ = &store;
    replay_key_ = std::move(key);
}

std::uint64_t event_sender::publish_event(std::uint64_t seq, std::string payload,
                                          const publish_properties* props) {
    if (replay_ != nullptr)
        replay_->record(replay_key_, seq, payload);
    return mqtt_.publish(topic_, std::move(payload), qos_, false, props);
}

std::size_t event_sender::join_last_chunk(std::string_view text, bool reasoning) {
    if (last_.ticket == 0 || last_.reasoning != reasoning)
        return 0;
    const std::size_t budget = std::min(payload_budget(topic_, chunk_props_), join_limit);
    std::size_t raw_room = std::numeric_limits<std::size_t>::max();
    if (last_.twin_ticket != 0) {
        const std::size_t raw_budget = text_budget();
        raw_room = raw_budget > last_.twin_text.size() ? raw_budget - last_.twin_text.size() : 0;
    }
    if (budget <= last_.payload_size || raw_room == 0)
        return 0;
    const std::size_t n = protocol::fitting_prefix(text, budget - last_.payload_size, raw_room);
    if (n == 0)
        return 0;
    const std::string_view joined = text.substr(0, n);
    std::string payload =
        protocol::encode_chunk(id_, last_.seq, last_.text + std::string(joined), reasoning);
    // Equal to the sum unless the last chunk ended inside a character: then measure again.
    const std::size_t size = payload.size();
    if (size > budget)
        return 0;
    // The joined chunk is what the device gets under this seq: a resume must replay it too.
    std::string kept = replay_ != nullptr ? payload : std::string();
    if (!mqtt_.amend(last_.ticket, std::move(payload))) {
        last_.ticket = 0;  // handed over: what comes next is a chunk of its own
        return 0;
    }
    if (replay_ != nullptr)
        replay_->record(replay_key_, last_.seq, std::move(kept));
    last_.text.append(joined);
    last_.payload_size = size;
    if (last_.twin_ticket != 0) {
        std::string twin = last_.twin_text + std::string(joined);
        if (mqtt_.amend(last_.twin_ticket, twin)) {
            last_.twin_text = std::move(twin);
        } else {
            last_.twin_ticket =
                mqtt_.publish(text_topic_, std::string(joined), text_qos_, false, &text_props_);
            last_.twin_text = joined;
        }
    }
    return n;
}

void event_sender::record_in(request_journal& journal, std::string project, std::string client) {
    journal_entry e;
    e.next_seq = seq_;
    e.limit = legacy_ ? 0 : limit();
    e.legacy = legacy_;
    e.project = std::move(project);
    e.client = std::move(client);
    e.id = id_;
    e.topic = topic_;
    e.correlation = event_props_.correlation;
    journal_handle_ = journal.begin(std::move(e));
    journal_ = journal_handle_ != 0 ? &journal : nullptr;
    if (journal_ != nullptr)
        journal_->flush();
}

void event_sender::record_seq(std::uint64_t next_seq) {
    if (journal_ == nullptr)
        return;
    journal_->note_seq(journal_handle_, next_seq);
    journal_->flush();
}

void event_sender::ended() {
    if (journal_ == nullptr)
        return;
    // The terminal's packets are the last ones queued: the request ends once they are settled.
    journal_->ending(journal_handle_, mqtt_.last_ticket());
    journal_ = nullptr;
}

}  // namespace llmb
