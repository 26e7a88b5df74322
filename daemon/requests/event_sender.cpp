#include "daemon/requests/event_sender.hpp"

#include <algorithm>
#include <limits>

#include "protocol/envelope.hpp"
#include "protocol/packet.hpp"

namespace llmb {

event_sender::event_sender(publisher& mqtt, int qos, std::string topic, std::string text_topic,
                           std::string id, std::size_t request_limit, std::size_t config_limit)
    : mqtt_(mqtt),
      qos_(qos),
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
    return text_topic_.empty() ||
           payload_budget(text_topic_, text_props_) >= 4;  // one whole character
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
    const std::size_t raw_limit = text_topic_.empty() || reasoning
                                      ? std::numeric_limits<std::size_t>::max()
                                      : payload_budget(text_topic_, text_props_);
    auto split = protocol::split_chunks(id_, seq_, text, reasoning,
                                        payload_budget(topic_, chunk_props_), raw_limit);
    if (!split.ok)
        return false;
    const std::uint64_t first = seq_ - split.payloads.size();
    record_seq(seq_);
    for (std::size_t i = 0; i < split.payloads.size(); ++i) {
        publish_event(first + i, std::move(split.payloads[i]), &chunk_props_);
        if (!text_topic_.empty() && !reasoning) {
            mqtt_.publish(text_topic_, std::string(split.texts[i]), qos_, false, &text_props_);
        }
    }
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

void event_sender::publish_event(std::uint64_t seq, std::string payload,
                                 const publish_properties* props) {
    if (replay_ != nullptr)
        replay_->record(replay_key_, seq, payload);
    mqtt_.publish(topic_, std::move(payload), qos_, false, props);
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
