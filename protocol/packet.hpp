// MQTT PUBLISH packet size arithmetic and splitting of events so that every packet fits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace llmb::protocol {

enum class mqtt_version { v3_1_1, v5 };

// Bytes of an MQTT Variable Byte Integer encoding v (1..4; v must be < 268,435,456).
std::size_t varint_size(std::size_t v) noexcept;

// Size of a whole PUBLISH packet: fixed header, topic, packet id (QoS > 0), property length and
// properties (v5 only), payload.
std::size_t publish_packet_size(std::size_t topic_len, std::size_t payload_len,
                                std::size_t properties_len, int qos, mqtt_version v) noexcept;

// Length of the MQTT 5 PUBLISH properties the bridge sends (the property-length varint not
// counted): Correlation Data of correlation_len bytes (none when 0) and a Message Expiry Interval.
std::size_t publish_properties_size(std::size_t correlation_len, bool message_expiry) noexcept;

// Largest payload for which publish_packet_size(...) <= packet_limit; 0 when not even an empty
// payload fits.
std::size_t max_payload(std::size_t packet_limit, std::size_t topic_len, std::size_t properties_len,
                        int qos, mqtt_version v) noexcept;

// Number of bytes at the start of text, whole UTF-8 characters only, whose JSON-escaped size is
// at most max_escaped and whose raw size is at most max_raw. An invalid byte counts as one
// character (escaped as U+FFFD). Returns 0 when not even the first character fits.
std::size_t fitting_prefix(std::string_view text, std::size_t max_escaped,
                           std::size_t max_raw = std::numeric_limits<std::size_t>::max()) noexcept;

struct chunk_split {
    std::vector<std::string> payloads;    // chunk event JSON, one per message
    std::vector<std::string_view> texts;  // the slice of the input text each payload carries
    bool ok = true;  // false when max_payload is too small for even one character
};

// Splits text into consecutive chunk events, numbered from seq (advanced past the last one),
// each payload at most max_payload bytes and each slice of text at most max_raw bytes (the
// limit of the raw text topic). Slices join to text exactly. Empty text gives no events.
// Each chunk is as large as fits. On failure (ok false) nothing is returned and seq is unchanged.
chunk_split split_chunks(std::string_view id, std::uint64_t& seq, std::string_view text,
                         bool reasoning, std::size_t max_payload,
                         std::size_t max_raw = std::numeric_limits<std::size_t>::max());

struct frag_split {
    std::vector<std::string> payloads;
    bool ok = true;  // false when max_payload is too small for a frag with one character of data
};

// When event_json fits in max_payload, one payload (the event itself). Otherwise consecutive
// frag events numbered from seq, `of` naming the event's type, whose data slices (cut at UTF-8
// boundaries) join to event_json. seq is advanced past the last message sent.
// Convention: the inner event carries the seq of its first frag (part 0).
// On failure (ok false) nothing is returned and seq is unchanged.
frag_split split_event(std::string_view id, std::uint64_t& seq, std::string_view of,
                       std::string_view event_json, std::size_t max_payload);

// Bounds a request is planned for: at most this many messages (seq below it) and frags of one
// event. A request that outgrows them on a tiny packet limit ends with an internal error.
inline constexpr std::uint64_t planned_max_seq = 9'999'999;
inline constexpr std::uint64_t planned_max_parts = 99'999;

// The smallest max_payload with which every event of a request with this id can be sent while it
// stays within the planned bounds (a frag carrying one escaped character, of "tool_calls").
// Requests whose budget is below it are refused with bad_request.
std::size_t min_payload_for(std::string_view id) noexcept;

}  // namespace llmb::protocol
