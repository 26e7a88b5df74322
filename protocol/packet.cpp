#include "protocol/packet.hpp"

#include <algorithm>
#include <array>

#include "protocol/envelope.hpp"
#include "protocol/json_text.hpp"

namespace llmb::protocol {

namespace {

// Largest value a Variable Byte Integer of 1, 2, 3 and 4 bytes can hold.
constexpr std::array<std::size_t, 4> varint_max = {127, 16'383, 2'097'151, 268'435'455};

// The variable header of a PUBLISH (topic, packet id, properties): what the remaining length
// counts besides the payload.
std::size_t publish_fixed_part(std::size_t topic_len, std::size_t properties_len, int qos,
                               mqtt_version v) noexcept {
    std::size_t n = 2 + topic_len;  // topic name with its two-byte length
    if (qos > 0) {
        n += 2;  // packet identifier
    }
    if (v == mqtt_version::v5) {
        n += varint_size(properties_len) + properties_len;
    }
    return n;
}

// Greedy cut of text into slices for messages whose fixed bytes are overhead(k) for the k-th
// message: each slice as long as fits in max_payload (and max_raw). Returns false when a
// message cannot carry even one character.
template <typename Overhead>
bool greedy_cut(std::string_view text, std::size_t max_payload, std::size_t max_raw,
                Overhead overhead, std::vector<std::string_view>& slices) {
    slices.clear();
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t fixed = overhead(slices.size());
        if (fixed >= max_payload) {
            return false;
        }
        const std::size_t n = fitting_prefix(text.substr(pos), max_payload - fixed, max_raw);
        if (n == 0) {
            return false;
        }
        slices.push_back(text.substr(pos, n));
        pos += n;
    }
    return true;
}

}  // namespace

std::size_t publish_properties_size(std::size_t correlation_len, bool message_expiry) noexcept {
    std::size_t n = 0;
    if (correlation_len > 0)
        n += 1 + 2 + correlation_len;  // identifier, length, data
    if (message_expiry)
        n += 1 + 4;  // identifier, four-byte integer
    return n;
}

std::size_t varint_size(std::size_t v) noexcept {
    std::size_t n = 1;
    while (n < varint_max.size() && v > varint_max[n - 1]) {
        ++n;
    }
    return n;
}

std::size_t publish_packet_size(std::size_t topic_len, std::size_t payload_len,
                                std::size_t properties_len, int qos, mqtt_version v) noexcept {
    const std::size_t remaining =
        publish_fixed_part(topic_len, properties_len, qos, v) + payload_len;
    return 1 + varint_size(remaining) + remaining;
}

std::size_t max_payload(std::size_t packet_limit, std::size_t topic_len, std::size_t properties_len,
                        int qos, mqtt_version v) noexcept {
    const std::size_t fixed = publish_fixed_part(topic_len, properties_len, qos, v);
    std::size_t best = 0;
    // For each width of the remaining-length field, the largest remaining length that both
    // fits the limit and is encodable in that width; a smaller value only shrinks the field.
    for (std::size_t width = 1; width <= varint_max.size(); ++width) {
        if (packet_limit < 1 + width) {
            break;
        }
        const std::size_t remaining = std::min(packet_limit - 1 - width, varint_max[width - 1]);
        if (remaining >= fixed) {
            best = std::max(best, remaining - fixed);
        }
    }
    return best;
}

std::size_t fitting_prefix(std::string_view text, std::size_t max_escaped,
                           std::size_t max_raw) noexcept {
    std::size_t raw = 0;
    std::size_t escaped = 0;
    while (raw < text.size()) {
        const std::string_view rest = text.substr(raw);
        const std::size_t n = utf8_sequence_length(rest);
        const std::size_t len = n != 0 ? n : 1;
        const std::size_t esc = escaped_char_size(rest, n);
        if (len > max_raw - raw || esc > max_escaped - escaped) {
            break;
        }
        raw += len;
        escaped += esc;
    }
    return raw;
}

chunk_split split_chunks(std::string_view id, std::uint64_t& seq, std::string_view text,
                         bool reasoning, std::size_t max_payload, std::size_t max_raw) {
    chunk_split result;
    const std::uint64_t first = seq;
    const auto overhead = [&](std::size_t k) { return chunk_overhead(id, first + k, reasoning); };
    if (!greedy_cut(text, max_payload, max_raw, overhead, result.texts)) {
        result.texts.clear();
        result.ok = false;
        return result;
    }
    result.payloads.reserve(result.texts.size());
    for (const std::string_view slice : result.texts) {
        result.payloads.push_back(encode_chunk(id, seq, slice, reasoning));
        ++seq;
    }
    return result;
}

frag_split split_event(std::string_view id, std::uint64_t& seq, std::string_view of,
                       std::string_view event_json, std::size_t max_payload) {
    frag_split result;
    if (event_json.size() <= max_payload) {
        result.payloads.emplace_back(event_json);
        ++seq;
        return result;
    }
    // A frag with seq, part and parts all 0 (one digit each); each number adds its extra digits.
    const std::size_t base = frag_overhead(id, 0, of, 0, 0) - 3;
    const std::uint64_t first = seq;
    // The number of parts is written in every frag, so it changes how much each one carries.
    // The part count the greedy cut needs only grows with the digits of the count it assumes,
    // so starting from 1 and feeding the result back reaches the fixed point.
    std::vector<std::string_view> slices;
    std::uint64_t parts = 1;
    for (;;) {
        const auto overhead = [&](std::size_t k) {
            return base + decimal_digits(first + k) + decimal_digits(k) + decimal_digits(parts);
        };
        if (!greedy_cut(event_json, max_payload, std::numeric_limits<std::size_t>::max(), overhead,
                        slices)) {
            result.ok = false;
            return result;
        }
        if (slices.size() == parts) {
            break;
        }
        parts = slices.size();
    }
    result.payloads.reserve(slices.size());
    for (std::size_t k = 0; k < slices.size(); ++k) {
        result.payloads.push_back(encode_frag(id, seq, of, k, parts, slices[k]));
        ++seq;
    }
    return result;
}

std::size_t min_payload_for(std::string_view id) noexcept {
    constexpr std::size_t widest_char = 6;  // a control character escaped as \u00XX
    constexpr std::string_view longest_type = "tool_calls";
    const std::size_t frag =
        frag_overhead(id, planned_max_seq, longest_type, planned_max_parts, planned_max_parts);
    const std::size_t chunk = chunk_overhead(id, planned_max_seq, true);
    return std::max(frag, chunk) + widest_char;
}

}  // namespace llmb::protocol
