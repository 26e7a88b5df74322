// JSON string escaping and UTF-8 validation (protocol/json_text.hpp).
#include <doctest/doctest.h>

#include "support.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "protocol/json_text.hpp"

namespace lp = llmb::protocol;

namespace {

using llmb::test::encode_utf8;

// Reference decoder written from the definition (bit patterns and code point ranges) rather
// than from byte ranges: the length of the valid sequence at s[i], or 0.
std::size_t reference_length(std::string_view s, std::size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((b0 & 0x80) == 0) {
        return 1;
    } else if ((b0 & 0xE0) == 0xC0) {
        n = 2;
        cp = b0 & 0x1Fu;
    } else if ((b0 & 0xF0) == 0xE0) {
        n = 3;
        cp = b0 & 0x0Fu;
    } else if ((b0 & 0xF8) == 0xF0) {
        n = 4;
        cp = b0 & 0x07u;
    } else {
        return 0;
    }
    if (i + n > s.size()) {
        return 0;
    }
    for (std::size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (b & 0x3Fu);
    }
    const std::uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

// What append_json_string must produce once parsed: s with every byte that does not start a
// valid sequence replaced by U+FFFD.
std::string reference_replaced(std::string_view s) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        const std::size_t n = reference_length(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::string random_text(std::mt19937_64& rng) {
    std::string s;
    const auto len = std::uniform_int_distribution<int>(0, 40)(rng);
    for (int k = 0; k < len; ++k) {
        switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
            case 0:
                s += static_cast<char>(std::uniform_int_distribution<int>(0x20, 0x7E)(rng));
                break;
            case 1:
                s += static_cast<char>(std::uniform_int_distribution<int>(0x00, 0x1F)(rng));
                break;
            case 2:
                s += "\"\\/\x7F"[std::uniform_int_distribution<int>(0, 3)(rng)];
                break;
            case 3: {
                auto cp = std::uniform_int_distribution<std::uint32_t>(0x80, 0x10FFFF)(rng);
                if (cp >= 0xD800 && cp <= 0xDFFF) {
                    cp = 0xFFFD;
                }
                s += encode_utf8(cp);
                break;
            }
            default:
                s += static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
                break;
        }
    }
    return s;
}

}  // namespace

TEST_CASE("utf8_sequence_length accepts every scalar value and its exact length") {
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        const std::string s = encode_utf8(cp);
        const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        const std::size_t expected = surrogate ? 0 : s.size();
        if (lp::utf8_sequence_length(s) != expected) {
            FAIL("code point " << cp << " gave " << lp::utf8_sequence_length(s));
        }
        if (!surrogate && s.size() > 1) {
            // Every proper prefix is a truncated sequence.
            for (std::size_t cut = 1; cut < s.size(); ++cut) {
                if (lp::utf8_sequence_length(std::string_view(s).substr(0, cut)) != 0) {
                    FAIL("code point " << cp << " cut after " << cut << " bytes");
                }
            }
        }
    }
}

TEST_CASE("utf8_sequence_length refuses malformed sequences") {
    CHECK(lp::utf8_sequence_length("\x80") == 0);              // lone continuation byte
    CHECK(lp::utf8_sequence_length("\xBF\x80") == 0);          // continuation byte first
    CHECK(lp::utf8_sequence_length("\xC0\x80") == 0);          // overlong NUL
    CHECK(lp::utf8_sequence_length("\xC1\xBF") == 0);          // overlong U+007F
    CHECK(lp::utf8_sequence_length("\xE0\x80\x80") == 0);      // overlong 3-byte
    CHECK(lp::utf8_sequence_length("\xE0\x9F\xBF") == 0);      // overlong U+07FF
    CHECK(lp::utf8_sequence_length("\xE0\xA0\x80") == 3);      // U+0800
    CHECK(lp::utf8_sequence_length("\xED\xA0\x80") == 0);      // U+D800 (surrogate)
    CHECK(lp::utf8_sequence_length("\xED\xBF\xBF") == 0);      // U+DFFF (surrogate)
    CHECK(lp::utf8_sequence_length("\xED\x9F\xBF") == 3);      // U+D7FF
    CHECK(lp::utf8_sequence_length("\xEE\x80\x80") == 3);      // U+E000
    CHECK(lp::utf8_sequence_length("\xF0\x80\x80\x80") == 0);  // overlong 4-byte
    CHECK(lp::utf8_sequence_length("\xF0\x8F\xBF\xBF") == 0);  // overlong U+FFFF
    CHECK(lp::utf8_sequence_length("\xF0\x90\x80\x80") == 4);  // U+10000
    CHECK(lp::utf8_sequence_length("\xF4\x8F\xBF\xBF") == 4);  // U+10FFFF
    CHECK(lp::utf8_sequence_length("\xF4\x90\x80\x80") == 0);  // U+110000
    CHECK(lp::utf8_sequence_length("\xF5\x80\x80\x80") == 0);  // lead byte beyond F4
    CHECK(lp::utf8_sequence_length("\xFF") == 0);
    CHECK(lp::utf8_sequence_length("\xC3") == 0);          // truncated
    CHECK(lp::utf8_sequence_length("\xE2\x82") == 0);      // truncated
    CHECK(lp::utf8_sequence_length("\xF0\x9F\x98") == 0);  // truncated
    CHECK(lp::utf8_sequence_length("\xC3\x41") == 0);      // bad continuation
    CHECK(lp::utf8_sequence_length("\xE2\x82\x41") == 0);
    CHECK(lp::utf8_sequence_length("\xF0\x9F\x98\xC3") == 0);
    CHECK(lp::utf8_sequence_length("\xC3\xA9rest") == 2);  // only the first sequence counts
}

TEST_CASE("utf8_sequence_length agrees with a bit-pattern decoder on all 3-byte inputs") {
    std::string s(3, '\0');
    for (unsigned a = 0; a < 256; ++a) {
        for (unsigned b = 0; b < 256; ++b) {
            for (unsigned c = 0; c < 256; ++c) {
                s[0] = static_cast<char>(a);
                s[1] = static_cast<char>(b);
                s[2] = static_cast<char>(c);
                if (lp::utf8_sequence_length(s) != reference_length(s, 0)) {
                    FAIL("bytes " << a << " " << b << " " << c);
                }
            }
        }
    }
}

TEST_CASE("utf8_sequence_length agrees with a bit-pattern decoder on 4-byte inputs") {
    std::mt19937_64 rng(11);
    std::string s(4, '\0');
    for (unsigned a = 0xF0; a < 0x100; ++a) {
        for (unsigned b = 0; b < 256; ++b) {
            for (int k = 0; k < 64; ++k) {
                s[0] = static_cast<char>(a);
                s[1] = static_cast<char>(b);
                // Mostly continuation bytes, so that the interesting cases are reached.
                for (std::size_t j = 2; j < 4; ++j) {
                    const bool cont = std::uniform_int_distribution<int>(0, 7)(rng) != 0;
                    s[j] =
                        static_cast<char>(cont ? std::uniform_int_distribution<int>(0x80, 0xBF)(rng)
                                               : std::uniform_int_distribution<int>(0, 255)(rng));
                }
                if (lp::utf8_sequence_length(s) != reference_length(s, 0)) {
                    FAIL("bytes " << a << " " << b);
                }
            }
        }
    }
}

TEST_CASE("valid_utf8") {
    CHECK(lp::valid_utf8(""));
    CHECK(lp::valid_utf8("plain ascii\n"));
    CHECK(lp::valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
    CHECK_FALSE(lp::valid_utf8("caf\xC3"));
    CHECK_FALSE(lp::valid_utf8("\xED\xA0\x80"));
    CHECK_FALSE(lp::valid_utf8("ok\xFFok"));
    std::mt19937_64 rng(3);
    for (int iter = 0; iter < 5000; ++iter) {
        const std::string s = random_text(rng);
        CHECK(lp::valid_utf8(s) == (reference_replaced(s) == s));
    }
}

TEST_CASE("append_json_string escapes exactly the control characters, quote and backslash") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"", R"("")"},
        {"a/b", R"("a/b")"},
        {"say \"hi\"", R"("say \"hi\"")"},
        {"back\\slash", R"("back\\slash")"},
        {"\b\f\n\r\t", R"("\b\f\n\r\t")"},
        {std::string_view("\0\x01\x1F", 3), R"("\u0000\u0001\u001f")"},
        {"\x7F", "\"\x7F\""},
        {"caf\xC3\xA9 \xF0\x9F\x98\x80", "\"caf\xC3\xA9 \xF0\x9F\x98\x80\""},
        {"a\xFF"
         "b",
         "\"a\xEF\xBF\xBD"
         "b\""},
        {"\xE2\x82", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},  // each stray byte is one U+FFFD
        {"\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
    };
    for (const auto& [in, expected] : cases) {
        std::string out = "prefix:";
        lp::append_json_string(out, in);
        CHECK(out == "prefix:" + std::string(expected));
        CHECK(lp::json_string_size(in) == expected.size());
    }
}

TEST_CASE("every control character round-trips through a JSON parser") {
    for (int c = 0; c < 0x20; ++c) {
        const std::string s(1, static_cast<char>(c));
        std::string out;
        lp::append_json_string(out, s);
        CHECK(out.size() == lp::json_string_size(s));
        CHECK(out.size() == 2 + lp::escaped_char_size(s, 1));
        CHECK(nlohmann::json::parse(out).get<std::string>() == s);
    }
}

TEST_CASE("json_string_size equals the appended size, and the output parses back") {
    std::mt19937_64 rng(7);
    for (int iter = 0; iter < 20000; ++iter) {
        const std::string s = random_text(rng);
        std::string out;
        lp::append_json_string(out, s);
        REQUIRE(out.size() == lp::json_string_size(s));
        REQUIRE(lp::valid_utf8(out));
        REQUIRE(nlohmann::json::parse(out).get<std::string>() == reference_replaced(s));

        // The per-character sizes add up to the same total.
        std::size_t sum = 2;
        for (std::size_t i = 0; i < s.size();) {
            const std::size_t n = lp::utf8_sequence_length(std::string_view(s).substr(i));
            sum += lp::escaped_char_size(std::string_view(s).substr(i), n);
            i += n != 0 ? n : 1;
        }
        REQUIRE(sum == out.size());
    }
}

TEST_CASE("decimal_digits") {
    CHECK(lp::decimal_digits(0) == 1);
    CHECK(lp::decimal_digits(9) == 1);
    CHECK(lp::decimal_digits(10) == 2);
    std::uint64_t p = 1;
    for (std::size_t d = 1; d < 20; ++d) {
        CHECK(lp::decimal_digits(p) == d);
        CHECK(lp::decimal_digits(p * 10 - 1) == d);
        p *= 10;
    }
    CHECK(lp::decimal_digits(p) == 20);
    CHECK(lp::decimal_digits(UINT64_MAX) == 20);
}

TEST_CASE("json_nested_deeper_than counts arrays and objects, not brackets in strings") {
    using llmb::protocol::json_nested_deeper_than;
    CHECK_FALSE(json_nested_deeper_than("{}", 1));
    CHECK(json_nested_deeper_than("[[]]", 1));
    CHECK_FALSE(json_nested_deeper_than(R"({"a":[1,{"b":2}]})", 3));
    CHECK(json_nested_deeper_than(R"({"a":[1,{"b":2}]})", 2));
    CHECK_FALSE(json_nested_deeper_than(R"(["[[[[", "\"[[[["])", 1));
    CHECK_FALSE(json_nested_deeper_than("[][][][]", 1));
    CHECK(json_nested_deeper_than(std::string(100000, '['), 64));
}
