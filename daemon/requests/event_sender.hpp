// Publishes the events of one request in order, numbering them, and splits whatever does not fit
// the packet limit: text into several chunk events, anything else into frags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "daemon/mqtt/publisher.hpp"
#include "daemon/requests/replay_store.hpp"
#include "daemon/requests/request_journal.hpp"
#include "protocol/error.hpp"

namespace llmb {

class event_sender {
public:
    // request_limit: the request's max_packet (0: none); config_limit: the configured cap.
    event_sender(publisher& mqtt, int qos, std::string topic, std::string text_topic,
                 std::string id, std::size_t request_limit, std::size_t config_limit);

    // MQTT 5: every event carries the request's Correlation Data (when it had some), and chunk
    // events and raw text expire after chunk_expiry_s (0: never). Call before the first send.
    void set_properties(std::string correlation, std::uint32_t chunk_expiry_s);

    // The QoS of the raw text (the events' QoS unless set). Call before the first send.
    void set_text_qos(int qos) noexcept;

    // The packet limit in force now: request, configuration and broker, the smallest.
    std::size_t limit() const noexcept;
    // Whether every event of this request can be sent within limit().
    bool feasible() const noexcept;

    // Encodes the event with the next seq and publishes it (as frags when it does not fit).
    // Returns false when it cannot be sent within the limit at all.
    bool send(std::string_view type, const std::function<std::string(std::uint64_t)>& encode);
    // Publishes text as chunk events (and on the text topic); counts them into chunks. Text
    // that comes while the last chunk event of the same kind (text or reasoning) still waits
    // to be handed to the client library joins that chunk as far as the packet limit allows
    // (see join_last_chunk): under load fewer, fuller messages; when nothing waits, each piece
    // goes out at once. No chunk is joined after another event.
    bool send_text(std::string_view text, bool reasoning, std::uint64_t& chunks);

    // The old deployment's format: text is gathered, "done" publishes it as one plain message,
    // "error" publishes "Error: <message>"; other events are not sent.
    static event_sender legacy(publisher& mqtt, int qos, std::string reply_topic, std::string id,
                               std::size_t config_limit);
    // Sends an error event (legacy: "Error: ..."); false when it cannot be sent within the limit.
    bool send_error(const protocol::error& err);

    // An error that is the last event of a request no sender is left for: the reply to a request
    // refused before it started (seq 0), or the end of a stream another bridge began (seq: the
    // next one). It fits request_limit when it can; a device's limit too small for it does not
    // keep the error from the device, which then gets it within the broker's and the configured
    // limit. False when not even that fits.
    // With keep, the error is held there under key for resume (as a request of its own).
    static bool send_lone_error(publisher& mqtt, int qos, const std::string& topic,
                                const std::string& id, std::uint64_t seq,
                                const protocol::error& err, const std::string& correlation,
                                std::size_t request_limit, std::size_t config_limit,
                                replay_store* keep = nullptr, const std::string& key = {});

    // Holds every event published on the response topic from now on in store under key, with
    // its seq, for a device that resumes (not the raw text, not legacy replies). Call before
    // the first send; the store must outlive this sender.
    void keep_in(replay_store& store, std::string key);

    // Records this request in the in-flight journal (call before the first send): from now on
    // its next seq is written before each event is handed to the MQTT link, and the seq a
    // terminal takes before the terminal. ended() tells the journal the terminal was handed over.
    void record_in(request_journal& journal, std::string project, std::string client);
    void ended();
    // Text that comes next starts a chunk of its own: a replay was queued behind the last chunk,
    // and the copy of that chunk in the replay must stay what the device keeps under its seq.
    void stop_joining() noexcept { last_.ticket = 0; }

    const std::string& id() const noexcept { return id_; }
    const std::string& topic() const noexcept { return topic_; }
    const std::string& correlation() const noexcept { return event_props_.correlation; }

private:
    // Chunk events carry the most properties: other events on topic_ get the same budget.
    std::size_t payload_budget(const std::string& topic,
                               const publish_properties& props) const noexcept;
    // The same for the raw text topic, at its own QoS.
    std::size_t text_budget() const noexcept;
    // Properties of event messages (other than chunks), chunk events and raw text.
    const publish_properties* event_props() const noexcept;

    publisher& mqtt_;
    int qos_;
    int text_qos_;
    std::string topic_;
    std::string text_topic_;  // empty: no raw text
    std::string id_;
    std::size_t request_limit_;
    std::size_t config_limit_;
    std::uint64_t seq_ = 0;
    publish_properties event_props_;
    publish_properties chunk_props_;
    publish_properties text_props_;
    // Writes the seq a terminal sent now would carry to the journal, before a publish.
    void record_seq(std::uint64_t next_seq);

    // Publishes one event payload of seq on the response topic, held for resume first; returns
    // its ticket.
    std::uint64_t publish_event(std::uint64_t seq, std::string payload,
                                const publish_properties* props);
    // The last chunk event published and its raw text twin, kept while text may join them.
    struct last_chunk {
        std::uint64_t ticket = 0;  // 0: nothing to join (none yet, or another event followed)
        std::uint64_t seq = 0;
        bool reasoning = false;
        std::string text;
        std::size_t payload_size = 0;
        std::uint64_t twin_ticket = 0;  // 0: no twin on the text topic
        std::string twin_text;
    };
    // Appends the longest start of text (whole characters) that fits the packet limit (and
    // join_limit) to the last chunk while it still waits, re-encoded under its own seq, and the
    // same to its twin when that waits too (else that start goes to the text topic as a message of
    // its own). Returns how many bytes of text were joined; 0 when the last chunk was handed over,
    // is of the other kind or is full. Every change to a chunk already numbered happens here.
    std::size_t join_last_chunk(std::string_view text, bool reasoning);
    last_chunk last_;

    bool legacy_ = false;
    replay_store* replay_ = nullptr;
    std::string replay_key_;
    std::string legacy_text_;
    request_journal* journal_ = nullptr;
    std::uint64_t journal_handle_ = 0;
};

}  // namespace llmb
