// Fuzz target: the UTF-8-safe splitter (split_chunks, split_event) and the client-side
// reassembly of what it produces (response_assembler). The input's first bytes choose the
// parameters, the rest is the text:
//   byte 0: bit 0 reasoning, bits 1-2 how seq is chosen, bit 3 a max_raw limit,
//           bits 4-5 the event split_event cuts (chunk, error, tool_calls, done)
//   byte 1: id length - 1 (mod 64); bytes 2-3: max_payload (mod 1024); bytes 4-5: max_raw
//   (mod 256, when limited); byte 6: seq
// Every payload must fit max_payload, the slices must join to the text (cut at UTF-8 boundaries
// when the text is valid UTF-8), each chunk must be as long as fits, and the messages must
// reassemble to the text and the event.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "protocol/envelope.hpp"
#include "protocol/json_text.hpp"
#include "protocol/packet.hpp"
#include "protocol/response_assembler.hpp"

namespace {

namespace lp = llmb::protocol;
using llmb::fuzz::require;
using json = nlohmann::json;

constexpr std::string_view id_alphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.";
constexpr std::size_t widest_escaped_char = 6;  // a control character as \u00XX
constexpr std::uint64_t most_fillers = 16;      // seqs below this are reassembled too

struct params {
    bool reasoning = false;
    std::string id;
    std::uint64_t seq = 0;
    std::size_t max_payload = 0;
    std::size_t max_raw = std::numeric_limits<std::size_t>::max();
    unsigned event_kind = 0;
    std::string_view text;
};

params read_params(llmb::fuzz::input_reader& in) {
    params p;
    const std::uint8_t flags = in.byte();
    p.reasoning = (flags & 1U) != 0;
    p.id = std::string(id_alphabet.substr(0, 1 + in.byte() % id_alphabet.size()));
    p.max_payload = in.u16() % 1024U;
    const std::uint16_t raw = in.u16();
    if ((flags & 8U) != 0) {
        p.max_raw = raw % 256U;
    }
    const std::uint8_t seq_byte = in.byte();
    switch ((flags >> 1) & 3U) {
        case 0:
            p.seq = 0;
            break;
        case 1:
            p.seq = seq_byte % most_fillers;
            break;
        case 2:
            p.seq = lp::planned_max_seq - seq_byte;
            break;
        default:
            p.seq = 1000U * seq_byte + 999U;  // crosses digit boundaries as it advances
            break;
    }
    p.event_kind = (flags >> 4) & 3U;
    p.text = in.rest();
    return p;
}

// A response assembler that has already seen the status events before first_seq.
lp::response_assembler assembler_at(std::string_view id, std::uint64_t first_seq) {
    lp::response_assembler a;
    std::vector<json> ignored;
    for (std::uint64_t s = 0; s < first_seq; ++s) {
        a.feed(lp::encode_status_generating(id, s), ignored);
    }
    return a;
}

void check_chunks(const params& p) {
    std::uint64_t seq = p.seq;
    const auto r = lp::split_chunks(p.id, seq, p.text, p.reasoning, p.max_payload, p.max_raw);
    if (!r.ok) {
        require(r.payloads.empty() && r.texts.empty(), "a failed split returns nothing");
        require(seq == p.seq, "a failed split leaves seq alone");
        require(!p.text.empty(), "empty text always splits");
        const std::size_t last_overhead =
            lp::chunk_overhead(p.id, p.seq + p.text.size(), p.reasoning);
        require(p.max_payload < last_overhead + widest_escaped_char || p.max_raw < 4,
                "a split fails only when a character cannot fit");
        return;
    }
    require(r.payloads.size() == r.texts.size(), "one payload per slice");
    require(seq == p.seq + r.payloads.size(), "seq advances past the chunks");
    const bool text_utf8 = lp::valid_utf8(p.text);
    std::string joined;
    for (std::size_t k = 0; k < r.texts.size(); ++k) {
        const std::string_view slice = r.texts[k];
        const std::string& payload = r.payloads[k];
        require(!slice.empty(), "no empty chunk");
        require(slice.size() <= p.max_raw, "a slice fits max_raw");
        require(payload.size() <= p.max_payload, "a chunk payload fits max_payload");
        require(payload == lp::encode_chunk(p.id, p.seq + k, slice, p.reasoning),
                "a payload is the chunk event of its slice");
        require(payload.size() == lp::chunk_overhead(p.id, p.seq + k, p.reasoning) +
                                      lp::json_string_size(slice) - 2,
                "chunk_overhead predicts the payload size");
        if (text_utf8) {
            require(lp::valid_utf8(slice), "slices of UTF-8 text are cut at character bounds");
        }
        if (k + 1 < r.texts.size()) {
            // As long as fits: one more character would not.
            const std::string_view next = r.texts[k + 1];
            const std::size_t n = lp::utf8_sequence_length(next);
            const std::size_t len = n != 0 ? n : 1;
            const std::string longer = std::string(slice) + std::string(next.substr(0, len));
            require(
                longer.size() > p.max_raw ||
                    lp::encode_chunk(p.id, p.seq + k, longer, p.reasoning).size() > p.max_payload,
                "each chunk is as long as fits");
        }
        joined.append(slice);
    }
    require(joined == p.text, "the slices join to the text");

    if (p.seq < most_fillers && text_utf8) {
        auto a = assembler_at(p.id, p.seq);
        std::vector<json> events;
        for (const auto& payload : r.payloads) {
            a.feed(payload, events);
        }
        require(a.violations().empty(), "chunks reassemble without violations");
        require(events.size() == r.payloads.size(), "every chunk is delivered");
        require((p.reasoning ? a.reasoning() : a.text()) == p.text, "chunks reassemble the text");
    }
}

std::string event_for(const params& p, std::string& of) {
    switch (p.event_kind) {
        case 0:
            of = "chunk";
            return lp::encode_chunk(p.id, p.seq, p.text, p.reasoning);
        case 1:
            of = "error";
            return lp::encode_error(
                p.id, p.seq,
                lp::error{lp::error_code::upstream_error, std::string(p.text), std::nullopt});
        case 2: {
            of = "tool_calls";
            std::string calls = R"([{"id":"call_1","type":"function","function":{"name":"f",)"
                                R"("arguments":)";
            lp::append_json_string(calls, p.text);
            calls += "}}]";
            return lp::encode_tool_calls(p.id, p.seq, calls);
        }
        default: {
            of = "done";
            lp::done_info info;
            info.finish_reason = std::string(p.text);
            return lp::encode_done(p.id, p.seq, info);
        }
    }
}

void check_event(const params& p) {
    std::string of;
    const std::string event = event_for(p, of);
    const json expected = json::parse(event, nullptr, false);
    require(expected.is_object(), "an encoded event is a JSON object");

    std::uint64_t seq = p.seq;
    const auto r = lp::split_event(p.id, seq, of, event, p.max_payload);
    if (!r.ok) {
        require(r.payloads.empty() && seq == p.seq, "a failed frag split returns nothing");
        require(event.size() > p.max_payload, "an event that fits is never refused");
        require(p.max_payload < lp::min_payload_for(p.id) ||
                    p.seq + event.size() >= lp::planned_max_seq,
                "frags fail only below min_payload_for");
        return;
    }
    require(seq == p.seq + r.payloads.size(), "seq advances past the frags");
    if (event.size() <= p.max_payload) {
        require(r.payloads.size() == 1 && r.payloads[0] == event, "an event that fits is sent");
    } else {
        std::string joined;
        for (std::size_t k = 0; k < r.payloads.size(); ++k) {
            const std::string& payload = r.payloads[k];
            require(payload.size() <= p.max_payload, "a frag fits max_payload");
            const json frag = json::parse(payload, nullptr, false);
            require(frag.is_object() && frag.value("type", "") == "frag" &&
                        frag.value("id", "") == p.id && frag.value("of", "") == of,
                    "a frag names its stream and event type");
            require(frag.value("seq", std::uint64_t{0}) == p.seq + k &&
                        frag.value("part", std::uint64_t{0}) == k &&
                        frag.value("parts", std::uint64_t{0}) == r.payloads.size(),
                    "frags are numbered in order");
            require(frag.contains("data") && frag["data"].is_string(), "a frag carries data");
            joined += frag["data"].get<std::string>();
        }
        require(r.payloads.size() >= 2, "an event that does not fit takes several frags");
        require(joined == event, "frag data joins to the event (cut at character bounds)");
    }

    if (p.seq < most_fillers) {
        auto a = assembler_at(p.id, p.seq);
        std::vector<json> events;
        for (const auto& payload : r.payloads) {
            a.feed(payload, events);
        }
        require(a.violations().empty(), "frags reassemble without violations");
        require(events.size() == 1 && events[0] == expected, "frags reassemble to the event");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    llmb::fuzz::input_reader in(data, size);
    const params p = read_params(in);
    check_chunks(p);
    check_event(p);
    return 0;
}
