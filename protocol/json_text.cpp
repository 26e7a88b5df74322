#include "protocol/json_text.hpp"

#include <array>
#include <cstdint>

namespace llmb::protocol {

namespace {

// What a byte needs when it starts a character: copied as is (plain ASCII), escaped (control
// characters, '"', '\\'), or decoded as the lead byte of a multi-byte sequence.
enum class byte_class : std::uint8_t { plain, escape, multi };

constexpr std::array<byte_class, 256> make_byte_classes() {
    std::array<byte_class, 256> t{};
    for (std::size_t b = 0; b < 256; ++b) {
        if (b < 0x20 || b == '"' || b == '\\') {
            t[b] = byte_class::escape;
        } else if (b >= 0x80) {
            t[b] = byte_class::multi;
        } else {
            t[b] = byte_class::plain;
        }
    }
    return t;
}

constexpr std::array<byte_class, 256> byte_classes = make_byte_classes();

constexpr std::string_view replacement_char = "\xEF\xBF\xBD";  // U+FFFD

byte_class class_of(char c) noexcept {
    return byte_classes[static_cast<unsigned char>(c)];
}

bool in_range(char c, unsigned lo, unsigned hi) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u >= lo && u <= hi;
}

// The short escape of an ASCII control character, or 0 when it takes the \u00XX form.
char short_escape(unsigned char c) noexcept {
    switch (c) {
        case '"':
            return '"';
        case '\\':
            return '\\';
        case '\b':
            return 'b';
        case '\f':
            return 'f';
        case '\n':
            return 'n';
        case '\r':
            return 'r';
        case '\t':
            return 't';
        default:
            return 0;
    }
}

std::size_t escaped_ascii_size(unsigned char c) noexcept {
    if (class_of(static_cast<char>(c)) == byte_class::plain) {
        return 1;
    }
    return short_escape(c) != 0 ? 2 : 6;
}

void append_escaped_ascii(std::string& out, unsigned char c) {
    const char e = short_escape(c);
    if (e != 0) {
        const char esc[2] = {'\\', e};
        out.append(esc, 2);
        return;
    }
    constexpr std::string_view hex = "0123456789abcdef";
    const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4u], hex[c & 0xfu]};
    out.append(esc, 6);
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view s) noexcept {
    const auto c0 = static_cast<unsigned char>(s[0]);
    if (c0 < 0x80) {
        return 1;
    }
    if (c0 < 0xC2) {  // continuation byte, or overlong two-byte lead (C0, C1)
        return 0;
    }
    if (c0 < 0xE0) {
        return s.size() >= 2 && in_range(s[1], 0x80, 0xBF) ? 2 : 0;
    }
    if (c0 < 0xF0) {
        if (s.size() < 3) {
            return 0;
        }
        const unsigned lo = c0 == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F would be overlong
        const unsigned hi = c0 == 0xED ? 0x9F : 0xBF;  // ED A0..BF would be a surrogate
        return in_range(s[1], lo, hi) && in_range(s[2], 0x80, 0xBF) ? 3 : 0;
    }
    if (c0 < 0xF5) {
        if (s.size() < 4) {
            return 0;
        }
        const unsigned lo = c0 == 0xF0 ? 0x90 : 0x80;  // F0 80..8F would be overlong
        const unsigned hi = c0 == 0xF4 ? 0x8F : 0xBF;  // F4 90.. would be above U+10FFFF
        return in_range(s[1], lo, hi) && in_range(s[2], 0x80, 0xBF) && in_range(s[3], 0x80, 0xBF)
                   ? 4
                   : 0;
    }
    return 0;
}

std::size_t escaped_char_size(std::string_view s, std::size_t n) noexcept {
    if (n == 0) {
        return replacement_char.size();
    }
    if (n > 1) {
        return n;
    }
    return escaped_ascii_size(static_cast<unsigned char>(s[0]));
}

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    std::size_t run = 0;  // start of the bytes not yet appended that need no change
    std::size_t i = 0;
    while (i < s.size()) {
        const byte_class k = class_of(s[i]);
        if (k == byte_class::plain) {
            ++i;
            continue;
        }
        if (k == byte_class::multi) {
            const std::size_t n = utf8_sequence_length(s.substr(i));
            if (n != 0) {
                i += n;
                continue;
            }
        }
        out.append(s.data() + run, i - run);
        if (k == byte_class::escape) {
            append_escaped_ascii(out, static_cast<unsigned char>(s[i]));
        } else {
            out.append(replacement_char);
        }
        ++i;
        run = i;
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

std::size_t json_string_size(std::string_view s) noexcept {
    std::size_t size = 2;
    std::size_t i = 0;
    while (i < s.size()) {
        const byte_class k = class_of(s[i]);
        if (k == byte_class::plain) {
            ++size;
            ++i;
        } else if (k == byte_class::escape) {
            size += escaped_ascii_size(static_cast<unsigned char>(s[i]));
            ++i;
        } else {
            const std::size_t n = utf8_sequence_length(s.substr(i));
            size += escaped_char_size(s.substr(i), n);
            i += n != 0 ? n : 1;
        }
    }
    return size;
}

bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const std::size_t n = utf8_sequence_length(s.substr(i));
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

std::size_t decimal_digits(std::uint64_t v) noexcept {
    std::size_t digits = 1;
    while (v >= 10) {
        v /= 10;
        ++digits;
    }
    return digits;
}

bool json_nested_deeper_than(std::string_view text, std::size_t limit) noexcept {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;  // the escaped character cannot end the string
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit)
                return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

}  // namespace llmb::protocol
