// PUBLISH size arithmetic and the UTF-8-safe splitter (protocol/packet.hpp).
#include <doctest/doctest.h>

#include "support.hpp"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/envelope.hpp"
#include "protocol/json_text.hpp"
#include "protocol/packet.hpp"

namespace lp = llmb::protocol;
using lp::mqtt_version;

namespace {

using llmb::test::encode_utf8;

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t no_limit = std::numeric_limits<std::size_t>::max();

// ---- size arithmetic ------------------------------------------------------------------------

// A PUBLISH serialised byte by byte as the MQTT specification lays it out.
std::string serialise_publish(std::size_t topic_len, std::size_t payload_len,
                              std::size_t properties_len, int qos, mqtt_version v) {
    const auto varint = [](std::size_t x) {
        std::string out;
        do {
            auto byte = static_cast<unsigned char>(x % 128);
            x /= 128;
            if (x > 0) {
                byte = static_cast<unsigned char>(byte | 0x80);
            }
            out += static_cast<char>(byte);
        } while (x > 0);
        return out;
    };
    std::string body;
    body += static_cast<char>(topic_len >> 8);
    body += static_cast<char>(topic_len & 0xFF);
    body.append(topic_len, 't');
    if (qos > 0) {
        body.append("\x00\x01", 2);
    }
    if (v == mqtt_version::v5) {
        body += varint(properties_len);
        body.append(properties_len, 'p');
    }
    body.append(payload_len, 'x');
    return std::string(1, static_cast<char>(0x30 | (qos << 1))) + varint(body.size()) + body;
}

// ---- random inputs --------------------------------------------------------------------------

template <typename T>
T pick(std::mt19937_64& rng, T lo, T hi) {
    return std::uniform_int_distribution<T>(lo, hi)(rng);
}

// Valid UTF-8 made of random code points of every width, with plenty of characters that need
// escaping.
std::string random_utf8(std::mt19937_64& rng, std::size_t max_chars) {
    std::string s;
    const std::size_t n = pick<std::size_t>(rng, 0, max_chars);
    for (std::size_t k = 0; k < n; ++k) {
        switch (pick(rng, 0, 7)) {
            case 0:
            case 1:
                s += static_cast<char>(pick(rng, 0x20, 0x7E));
                break;
            case 2:
                s += static_cast<char>(pick(rng, 0x00, 0x1F));
                break;
            case 3:
                s += "\"\\/\x7F"[pick(rng, 0, 3)];
                break;
            case 4:
                s += encode_utf8(pick<std::uint32_t>(rng, 0x80, 0x7FF));
                break;
            case 5: {
                auto cp = pick<std::uint32_t>(rng, 0x800, 0xFFFF);
                s += encode_utf8(cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp);
                break;
            }
            default:
                s += encode_utf8(pick<std::uint32_t>(rng, 0x10000, 0x10FFFF));
                break;
        }
    }
    return s;
}

// Random bytes: mostly not UTF-8, with some valid and truncated sequences mixed in.
std::string random_bytes(std::mt19937_64& rng, std::size_t max_len) {
    std::string s;
    const std::size_t n = pick<std::size_t>(rng, 0, max_len);
    while (s.size() < n) {
        const int kind = pick(rng, 0, 3);
        if (kind == 0) {
            const std::string c = encode_utf8(pick<std::uint32_t>(rng, 0x80, 0x10FFFF));
            s += c.substr(0, pick<std::size_t>(rng, 1, c.size()));
        } else {
            s += static_cast<char>(pick(rng, 0, 255));
        }
    }
    return s;
}

std::string random_id(std::mt19937_64& rng) {
    static const std::string alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
    std::string id;
    const std::size_t n = pick<std::size_t>(rng, 1, 64);
    for (std::size_t k = 0; k < n; ++k) {
        id += alphabet[pick<std::size_t>(rng, 0, alphabet.size() - 1)];
    }
    return id;
}

// Starting seqs: small ones, ones just below a power of ten (so the digit count changes inside
// a split) and huge ones.
std::uint64_t random_seq(std::mt19937_64& rng) {
    switch (pick(rng, 0, 3)) {
        case 0:
            return pick<std::uint64_t>(rng, 0, 20);
        case 1: {
            std::uint64_t p = 10;
            for (int d = pick(rng, 0, 17); d > 0; --d) {
                p *= 10;
            }
            return p - pick<std::uint64_t>(rng, 1, 5);
        }
        case 2:
            return u64_max - 100'000 - pick<std::uint64_t>(rng, 0, 1000);
        default:
            return pick<std::uint64_t>(rng, 0, 1'000'000'000);
    }
}

// ---- reference decoding ---------------------------------------------------------------------

// Offsets where characters of s start (and s.size()), an invalid byte being one character.
std::vector<bool> char_boundaries(std::string_view s) {
    std::vector<bool> b(s.size() + 1);
    std::size_t i = 0;
    while (i < s.size()) {
        b[i] = true;
        const std::size_t n = lp::utf8_sequence_length(s.substr(i));
        i += n != 0 ? n : 1;
    }
    b[s.size()] = true;
    return b;
}

std::size_t char_len_at(std::string_view s, std::size_t i) {
    const std::size_t n = lp::utf8_sequence_length(s.substr(i));
    return n != 0 ? n : 1;
}

std::string replaced(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = lp::utf8_sequence_length(s.substr(i));
        out += n != 0 ? std::string(s.substr(i, n)) : std::string("\xEF\xBF\xBD");
        i += n != 0 ? n : 1;
    }
    return out;
}

// ---- checks of a split ----------------------------------------------------------------------

void check_chunks(const lp::chunk_split& r, std::string_view id, std::uint64_t first_seq,
                  std::uint64_t seq_after, std::string_view text, bool reasoning,
                  std::size_t max_payload, std::size_t max_raw) {
    REQUIRE(r.ok);
    REQUIRE(r.payloads.size() == r.texts.size());
    REQUIRE(seq_after == first_seq + r.payloads.size());
    const std::vector<bool> boundaries = char_boundaries(text);
    const char* const key = reasoning ? "reasoning" : "text";
    std::size_t offset = 0;
    std::string joined;
    for (std::size_t k = 0; k < r.payloads.size(); ++k) {
        const std::string& payload = r.payloads[k];
        const std::string_view slice = r.texts[k];
        const std::uint64_t seq = first_seq + k;
        REQUIRE(payload.size() <= max_payload);
        REQUIRE(slice.size() <= max_raw);
        REQUIRE(!slice.empty());
        // Slices are consecutive views of the input, cut between characters.
        REQUIRE(slice.data() == text.data() + offset);
        offset += slice.size();
        REQUIRE(boundaries[offset]);

        const nlohmann::json j = nlohmann::json::parse(payload);
        REQUIRE(j.size() == 4);
        REQUIRE(j["id"] == id);
        REQUIRE(j["seq"].get<std::uint64_t>() == seq);
        REQUIRE(j["type"] == "chunk");
        REQUIRE(j[key].get<std::string>() == replaced(slice));
        joined += j[key].get<std::string>();

        // Maximal: one more character would break a limit.
        if (k + 1 < r.payloads.size()) {
            const std::size_t next = char_len_at(text, offset);
            const std::string_view longer(slice.data(), slice.size() + next);
            const bool too_big = lp::encode_chunk(id, seq, longer, reasoning).size() > max_payload;
            REQUIRE((too_big || longer.size() > max_raw));
        }
    }
    REQUIRE(offset == text.size());
    REQUIRE(joined == replaced(text));
}

void check_frags(const lp::frag_split& r, std::string_view id, std::uint64_t first_seq,
                 std::uint64_t seq_after, std::string_view of, std::string_view event_json,
                 std::size_t max_payload) {
    REQUIRE(r.ok);
    REQUIRE(seq_after == first_seq + r.payloads.size());
    if (event_json.size() <= max_payload) {
        REQUIRE(r.payloads.size() == 1);
        REQUIRE(r.payloads[0] == event_json);
        return;
    }
    REQUIRE(r.payloads.size() >= 2);
    const std::uint64_t parts = r.payloads.size();
    std::string joined;
    std::size_t offset = 0;  // in event_json, valid only for valid UTF-8 input
    const bool valid = lp::valid_utf8(event_json);
    const std::vector<bool> boundaries = char_boundaries(event_json);
    for (std::size_t k = 0; k < r.payloads.size(); ++k) {
        const std::string& payload = r.payloads[k];
        REQUIRE(payload.size() <= max_payload);
        const nlohmann::json j = nlohmann::json::parse(payload);
        REQUIRE(j.size() == 7);
        REQUIRE(j["id"] == id);
        REQUIRE(j["seq"].get<std::uint64_t>() == first_seq + k);
        REQUIRE(j["type"] == "frag");
        REQUIRE(j["of"] == of);
        REQUIRE(j["part"].get<std::uint64_t>() == k);
        REQUIRE(j["parts"].get<std::uint64_t>() == parts);
        const std::string data = j["data"].get<std::string>();
        REQUIRE(!data.empty());
        joined += data;
        if (valid) {
            REQUIRE(event_json.substr(offset, data.size()) == data);
            offset += data.size();
            REQUIRE(boundaries[offset]);
            if (k + 1 < r.payloads.size()) {
                const std::string longer(event_json.substr(
                    offset - data.size(), data.size() + char_len_at(event_json, offset)));
                REQUIRE(lp::encode_frag(id, first_seq + k, of, k, parts, longer).size() >
                        max_payload);
            }
        }
    }
    REQUIRE(joined == replaced(event_json));
}

}  // namespace

TEST_CASE("varint_size at its boundaries") {
    CHECK(lp::varint_size(0) == 1);
    CHECK(lp::varint_size(127) == 1);
    CHECK(lp::varint_size(128) == 2);
    CHECK(lp::varint_size(16'383) == 2);
    CHECK(lp::varint_size(16'384) == 3);
    CHECK(lp::varint_size(2'097'151) == 3);
    CHECK(lp::varint_size(2'097'152) == 4);
    CHECK(lp::varint_size(268'435'455) == 4);
}

TEST_CASE("publish_packet_size of hand-computed packets") {
    // v3.1.1, QoS 0, topic "a/b", 10 bytes: 1 + 1 + (2 + 3 + 10) = 17.
    CHECK(lp::publish_packet_size(3, 10, 0, 0, mqtt_version::v3_1_1) == 17);
    // QoS 1 adds the packet id: 1 + 1 + (2 + 3 + 2 + 10) = 19.
    CHECK(lp::publish_packet_size(3, 10, 0, 1, mqtt_version::v3_1_1) == 19);
    // v5 adds the property length (1 byte for 0): 1 + 1 + (2 + 3 + 1 + 10) = 18.
    CHECK(lp::publish_packet_size(3, 10, 0, 0, mqtt_version::v5) == 18);
    // v5, QoS 1, 9 bytes of properties: 1 + 1 + (2 + 3 + 2 + 1 + 9 + 10) = 29.
    CHECK(lp::publish_packet_size(3, 10, 9, 1, mqtt_version::v5) == 29);
    // v3.1.1 ignores properties.
    CHECK(lp::publish_packet_size(3, 10, 9, 1, mqtt_version::v3_1_1) == 19);
    // Remaining length 127 vs 128: the length field grows to two bytes.
    CHECK(lp::publish_packet_size(3, 122, 0, 0, mqtt_version::v3_1_1) == 129);
    CHECK(lp::publish_packet_size(3, 123, 0, 0, mqtt_version::v3_1_1) == 131);
    // Properties of 128 bytes take a two-byte property length: remaining 2+3+2+128+0 = 135.
    CHECK(lp::publish_packet_size(3, 0, 128, 0, mqtt_version::v5) == 138);
    // Remaining length 16383 vs 16384, and 2097151 vs 2097152.
    CHECK(lp::publish_packet_size(3, 16'378, 0, 0, mqtt_version::v3_1_1) == 16'386);
    CHECK(lp::publish_packet_size(3, 16'379, 0, 0, mqtt_version::v3_1_1) == 16'388);
    CHECK(lp::publish_packet_size(3, 2'097'146, 0, 0, mqtt_version::v3_1_1) == 2'097'155);
    CHECK(lp::publish_packet_size(3, 2'097'147, 0, 0, mqtt_version::v3_1_1) == 2'097'157);
}

TEST_CASE("publish_packet_size equals a byte-by-byte serialisation") {
    std::mt19937_64 rng(21);
    for (int iter = 0; iter < 3000; ++iter) {
        const std::size_t topic = pick<std::size_t>(rng, 0, 300);
        const std::size_t props = pick<std::size_t>(rng, 0, 300);
        const std::size_t payload = iter % 10 == 0 ? pick<std::size_t>(rng, 16'000, 17'000)
                                                   : pick<std::size_t>(rng, 0, 400);
        const int qos = pick(rng, 0, 2);
        for (const auto v : {mqtt_version::v3_1_1, mqtt_version::v5}) {
            REQUIRE(lp::publish_packet_size(topic, payload, props, qos, v) ==
                    serialise_publish(topic, payload, props, qos, v).size());
        }
    }
}

TEST_CASE("max_payload right at the length-field boundaries") {
    const auto v3 = mqtt_version::v3_1_1;
    // Topic of 3 bytes, QoS 0: the variable header is 5 bytes.
    CHECK(lp::max_payload(129, 3, 0, 0, v3) == 122);  // 1 + 1 + 127
    CHECK(lp::max_payload(130, 3, 0, 0, v3) == 122);  // a 130-byte packet cannot be made
    CHECK(lp::max_payload(131, 3, 0, 0, v3) == 123);  // 1 + 2 + 128
    CHECK(lp::max_payload(16'386, 3, 0, 0, v3) == 16'378);
    CHECK(lp::max_payload(16'387, 3, 0, 0, v3) == 16'378);
    CHECK(lp::max_payload(16'388, 3, 0, 0, v3) == 16'379);
    CHECK(lp::max_payload(2'097'155, 3, 0, 0, v3) == 2'097'146);
    CHECK(lp::max_payload(2'097'156, 3, 0, 0, v3) == 2'097'146);
    CHECK(lp::max_payload(2'097'157, 3, 0, 0, v3) == 2'097'147);
    // The largest packet MQTT can carry: remaining length 268,435,455.
    CHECK(lp::max_payload(268'435'460, 3, 0, 0, v3) == 268'435'450);
    CHECK(lp::max_payload(no_limit, 3, 0, 0, v3) == 268'435'450);
    // v5, QoS 1, 10 bytes of properties: variable header 2 + 3 + 2 + 1 + 10 = 18.
    CHECK(lp::max_payload(256, 3, 10, 1, mqtt_version::v5) == 256 - 3 - 18);
    CHECK(lp::max_payload(129, 3, 10, 1, mqtt_version::v5) == 127 - 18);
    // Too small for even the headers.
    CHECK(lp::max_payload(6, 3, 0, 0, v3) == 0);
    CHECK(lp::max_payload(0, 3, 0, 0, v3) == 0);
    CHECK(lp::max_payload(20, 40, 0, 0, v3) == 0);
    // Exactly the headers: an empty payload fits.
    CHECK(lp::max_payload(7, 3, 0, 0, v3) == 0);
    CHECK(lp::publish_packet_size(3, 0, 0, 0, v3) == 7);
}

TEST_CASE("max_payload is the largest payload that fits, for all limits near the boundaries") {
    // Packet sizes where the remaining-length field grows, and the largest MQTT packet.
    const std::size_t edges[] = {0, 128, 16'384, 2'097'152, 268'435'460};
    const std::size_t topics[] = {0, 1, 20, 100};
    const std::size_t properties[] = {0, 5, 127, 128};
    std::vector<std::size_t> limits;
    for (const std::size_t edge : edges) {
        for (std::size_t d = 0; d < 700; ++d) {
            limits.push_back(edge + d);
            if (edge >= d) {
                limits.push_back(edge - d);
            }
        }
    }
    for (const std::size_t limit : limits) {
        for (const std::size_t topic : topics) {
            for (const std::size_t props : properties) {
                for (const int qos : {0, 1}) {
                    for (const auto v : {mqtt_version::v3_1_1, mqtt_version::v5}) {
                        CAPTURE(limit);
                        const std::size_t p = lp::max_payload(limit, topic, props, qos, v);
                        const std::size_t empty = lp::publish_packet_size(topic, 0, props, qos, v);
                        if (empty > limit) {
                            REQUIRE(p == 0);
                            continue;
                        }
                        REQUIRE(lp::publish_packet_size(topic, p, props, qos, v) <= limit);
                        // One more byte would not fit (or MQTT cannot encode it).
                        const std::size_t bigger =
                            lp::publish_packet_size(topic, p + 1, props, qos, v);
                        REQUIRE((bigger > limit || bigger > 268'435'460));
                    }
                }
            }
        }
    }
}

TEST_CASE("fitting_prefix counts whole characters by escaped and raw size") {
    const std::string_view s = "a\"\xC3\xA9\xF0\x9F\x98\x80\n";  // a " é 😀 \n
    // Escaped sizes: 1, 2, 2, 4, 2.
    CHECK(lp::fitting_prefix(s, 0) == 0);
    CHECK(lp::fitting_prefix(s, 1) == 1);
    CHECK(lp::fitting_prefix(s, 2) == 1);
    CHECK(lp::fitting_prefix(s, 3) == 2);
    CHECK(lp::fitting_prefix(s, 4) == 2);
    CHECK(lp::fitting_prefix(s, 5) == 4);
    CHECK(lp::fitting_prefix(s, 8) == 4);
    CHECK(lp::fitting_prefix(s, 9) == 8);
    CHECK(lp::fitting_prefix(s, 11) == 9);
    CHECK(lp::fitting_prefix(s, 100) == 9);
    CHECK(lp::fitting_prefix(s, 100, 3) == 2);
    CHECK(lp::fitting_prefix(s, 100, 4) == 4);
    CHECK(lp::fitting_prefix(s, 100, 7) == 4);
    CHECK(lp::fitting_prefix(s, 100, 0) == 0);
    CHECK(lp::fitting_prefix("", 100) == 0);
    CHECK(lp::fitting_prefix("\x01", 5) == 0);  // \u0001 takes 6
    CHECK(lp::fitting_prefix("\x01", 6) == 1);
    CHECK(lp::fitting_prefix("\xFF\xFF", 3) == 1);  // an invalid byte becomes U+FFFD (3 bytes)
    CHECK(lp::fitting_prefix("\xE2\x82", 6) == 2);
}

TEST_CASE("fitting_prefix measures exactly what append_json_string writes") {
    std::mt19937_64 rng(17);
    for (int iter = 0; iter < 5000; ++iter) {
        const std::string s = iter % 3 == 0 ? random_bytes(rng, 60) : random_utf8(rng, 40);
        const std::size_t budget = pick<std::size_t>(rng, 0, 200);
        const std::size_t n = lp::fitting_prefix(s, budget);
        const std::vector<bool> boundaries = char_boundaries(s);
        REQUIRE(boundaries[n]);
        REQUIRE(lp::json_string_size(std::string_view(s).substr(0, n)) - 2 <= budget);
        if (n < s.size()) {
            const std::size_t next = n + char_len_at(s, n);
            REQUIRE(lp::json_string_size(std::string_view(s).substr(0, next)) - 2 > budget);
        }
    }
}

TEST_CASE("split_chunks: hand-made cases") {
    std::uint64_t seq = 1;
    const std::string_view text = "Hello!";
    // {"id":"r1","seq":1,"type":"chunk","text":"Hel"} is 47 bytes.
    const auto r = lp::split_chunks("r1", seq, text, false, 47);
    REQUIRE(r.ok);
    CHECK(r.payloads ==
          std::vector<std::string>{R"({"id":"r1","seq":1,"type":"chunk","text":"Hel"})",
                                   R"({"id":"r1","seq":2,"type":"chunk","text":"lo!"})"});
    CHECK(seq == 3);

    // Empty text: no events, seq unchanged.
    const auto e = lp::split_chunks("r1", seq, "", false, 47);
    CHECK(e.ok);
    CHECK(e.payloads.empty());
    CHECK(seq == 3);

    // A 4-byte character never splits: with room for 3 bytes only, it does not fit.
    seq = 0;
    const std::size_t overhead = lp::chunk_overhead("r", 0, false);
    const auto f = lp::split_chunks("r", seq, "\xF0\x9F\x98\x80", false, overhead + 3);
    CHECK_FALSE(f.ok);
    CHECK(f.payloads.empty());
    CHECK(seq == 0);
    const auto g = lp::split_chunks("r", seq, "\xF0\x9F\x98\x80", false, overhead + 4);
    CHECK(g.ok);
    CHECK(g.payloads.size() == 1);

    // Raw limit of 5 bytes with 2-byte characters: two per chunk.
    seq = 0;
    const auto h = lp::split_chunks("r", seq, "\xC3\xA9\xC3\xA9\xC3\xA9", false, 1000, 5);
    REQUIRE(h.ok);
    CHECK(h.texts == std::vector<std::string_view>{"\xC3\xA9\xC3\xA9", "\xC3\xA9"});
}

TEST_CASE("split_chunks fails when the seq gains a digit and the budget no longer fits") {
    // At seq 9 one character fits exactly; at seq 10 the overhead is one byte larger.
    std::uint64_t seq = 9;
    const std::size_t limit = lp::chunk_overhead("r", 9, false) + 1;
    const auto r = lp::split_chunks("r", seq, "ab", false, limit);
    CHECK_FALSE(r.ok);
    CHECK(r.payloads.empty());
    CHECK(r.texts.empty());
    CHECK(seq == 9);
    const auto s = lp::split_chunks("r", seq, "a", false, limit);
    CHECK(s.ok);
    CHECK(seq == 10);
}

TEST_CASE("split_chunks: randomized against every invariant") {
    std::mt19937_64 rng(20240601);
    int infeasible = 0;
    for (int iter = 0; iter < 6000; ++iter) {
        const bool raw_bytes = iter % 4 == 3;
        const std::string text = raw_bytes ? random_bytes(rng, 300) : random_utf8(rng, 200);
        const std::string id = random_id(rng);
        const std::uint64_t first = random_seq(rng);
        const bool reasoning = pick(rng, 0, 1) == 1;
        // The last chunk has the largest overhead; with room for the widest character there,
        // every chunk can carry at least one.
        const std::size_t feasible = lp::chunk_overhead(id, first + text.size(), reasoning) + 6;
        std::size_t max_payload = feasible + pick<std::size_t>(rng, 0, 3);
        if (pick(rng, 0, 2) == 0) {
            max_payload = feasible + pick<std::size_t>(rng, 0, 2000);
        }
        std::size_t max_raw = no_limit;
        if (pick(rng, 0, 2) == 0) {
            max_raw = pick<std::size_t>(rng, 4, 64);
        }
        CAPTURE(iter);
        std::uint64_t seq = first;
        const auto r = lp::split_chunks(id, seq, text, reasoning, max_payload, max_raw);
        check_chunks(r, id, first, seq, text, reasoning, max_payload, max_raw);

        // Just below what the first character needs: nothing can be sent.
        if (!text.empty()) {
            const std::size_t need =
                lp::chunk_overhead(id, first, reasoning) +
                lp::json_string_size(std::string_view(text).substr(0, char_len_at(text, 0))) - 2;
            seq = first;
            const auto bad = lp::split_chunks(id, seq, text, reasoning, need - 1, max_raw);
            REQUIRE_FALSE(bad.ok);
            REQUIRE(bad.payloads.empty());
            REQUIRE(seq == first);
            ++infeasible;
        }
    }
    CHECK(infeasible > 5000);
}

TEST_CASE("split_event: an event that fits is sent as it is") {
    std::uint64_t seq = 4;
    const std::string ev = lp::encode_status_generating("r", 4);
    const auto r = lp::split_event("r", seq, "status", ev, ev.size());
    REQUIRE(r.ok);
    CHECK(r.payloads == std::vector<std::string>{ev});
    CHECK(seq == 5);
}

TEST_CASE("split_event: hand-made frags") {
    std::string digits;
    for (int k = 0; k < 9; ++k) {
        digits += "0123456789";
    }
    const std::string ev = R"({"k":")" + digits + R"("})";  // 98 bytes
    const std::string head =
        R"({"id":"r","seq":0,"type":"frag","of":"done","part":0,"parts":6,"data":"")";
    // Room for 20 bytes of escaped data per frag (every '"' of the event takes two).
    const std::size_t limit = head.size() + 1 + 20;
    REQUIRE(ev.size() > limit);
    std::uint64_t seq = 0;
    const auto r = lp::split_event("r", seq, "done", ev, limit);
    REQUIRE(r.ok);
    const auto frag = [](int k, std::string_view data) {
        return R"({"id":"r","seq":)" + std::to_string(k) + R"(,"type":"frag","of":"done","part":)" +
               std::to_string(k) + R"(,"parts":6,"data":")" + std::string(data) + "\"}";
    };
    CHECK(r.payloads == std::vector<std::string>{
                            frag(0, R"({\"k\":\"01234567890)"), frag(1, "12345678901234567890"),
                            frag(2, "12345678901234567890"), frag(3, "12345678901234567890"),
                            frag(4, "1234567890123456789"), frag(5, R"(\"})")});
    CHECK(seq == 6);
    check_frags(r, "r", 0, seq, "done", ev, limit);

    // Room for only one escaped byte: the leading '{' goes, the '"' after it never can.
    seq = 0;
    const auto bad = lp::split_event("r", seq, "done", ev, head.size() + 1 + 1);
    CHECK_FALSE(bad.ok);
    CHECK(bad.payloads.empty());
    CHECK(seq == 0);
}

TEST_CASE("split_event: the part count is written with its final number of digits") {
    // Enough data for more than 9 frags, so "parts" needs two digits in every frag.
    std::string content(400, 'x');
    lp::error err{lp::error_code::internal, content, std::nullopt};
    const std::string ev = lp::encode_error("r", 0, err);
    std::uint64_t seq = 0;
    const std::size_t limit = lp::frag_overhead("r", 99, "error", 99, 99) + 20;
    const auto r = lp::split_event("r", seq, "error", ev, limit);
    REQUIRE(r.ok);
    CHECK(r.payloads.size() > 9);
    check_frags(r, "r", 0, seq, "error", ev, limit);
}

TEST_CASE("split_event: randomized against every invariant") {
    std::mt19937_64 rng(99);
    const std::string_view types[] = {"done", "error", "session", "tool_calls", "start"};
    for (int iter = 0; iter < 3000; ++iter) {
        const std::string id = random_id(rng);
        const std::uint64_t first = random_seq(rng);
        const std::string_view of = types[pick<std::size_t>(rng, 0, 4)];
        std::string ev;
        switch (pick(rng, 0, 3)) {
            case 0: {
                std::vector<lp::session_message> msgs;
                for (int k = pick(rng, 0, 4); k > 0; --k) {
                    msgs.push_back({"user", random_utf8(rng, 80)});
                }
                ev = lp::encode_session(id, first, true, random_id(rng), msgs);
                break;
            }
            case 1:
                ev = lp::encode_error(id, first,
                                      {lp::error_code::upstream_error, random_utf8(rng, 150), 10});
                break;
            case 2:
                ev = random_utf8(rng, 200);  // any valid UTF-8, control characters included
                break;
            default:
                ev = random_bytes(rng, 200);  // not even UTF-8
                break;
        }
        const std::size_t feasible =
            lp::frag_overhead(id, first + ev.size(), of, ev.size(), ev.size()) + 6;
        std::size_t max_payload = feasible + pick<std::size_t>(rng, 0, 3);
        if (pick(rng, 0, 2) == 0) {
            max_payload = feasible + pick<std::size_t>(rng, 0, 500);
        }
        if (pick(rng, 0, 9) == 0) {
            max_payload = ev.size() + pick<std::size_t>(rng, 0, 1);
        }
        CAPTURE(iter);
        std::uint64_t seq = first;
        const auto r = lp::split_event(id, seq, of, ev, max_payload);
        check_frags(r, id, first, seq, of, ev, max_payload);

        // No frag can carry the first character: refused, nothing sent.
        const std::size_t tiny = lp::frag_overhead(id, first, of, 0, 1);
        if (ev.size() > tiny) {
            seq = first;
            const auto bad = lp::split_event(id, seq, of, ev, tiny);
            REQUIRE_FALSE(bad.ok);
            REQUIRE(bad.payloads.empty());
            REQUIRE(seq == first);
        }
    }
}

TEST_CASE("min_payload_for is enough for any event within the planned bounds") {
    std::mt19937_64 rng(4);
    for (int iter = 0; iter < 500; ++iter) {
        const std::string id = random_id(rng);
        const std::size_t min = lp::min_payload_for(id);
        // Worst case: every character escaped to six bytes, seqs at the planned maximum.
        const std::string ev = iter % 2 == 0 ? std::string(pick<std::size_t>(rng, 1, 300), '\x01')
                                             : random_bytes(rng, 300);
        const std::uint64_t first = lp::planned_max_seq - 400 - static_cast<std::uint64_t>(iter);
        std::uint64_t seq = first;
        const auto r = lp::split_event(id, seq, "tool_calls", ev, min);
        check_frags(r, id, first, seq, "tool_calls", ev, min);
        seq = first;
        const auto c = lp::split_chunks(id, seq, ev, true, min);
        check_chunks(c, id, first, seq, ev, true, min, no_limit);
    }
    // And it is not larger than it must be: a frag at the planned bounds with a six-byte
    // character needs exactly that much.
    const std::string id = "dev-1.r_42";
    CHECK(lp::min_payload_for(id) == lp::encode_frag(id, lp::planned_max_seq, "tool_calls",
                                                     lp::planned_max_parts, lp::planned_max_parts,
                                                     "\x01")
                                         .size());
    // A short id on a short topic fits the smallest max_packet the protocol allows (128).
    const std::size_t topic = std::string("llm/response/dev1/r1").size();
    CHECK(lp::max_payload(128, topic, 0, 1, lp::mqtt_version::v5) >= lp::min_payload_for("r1"));
}
