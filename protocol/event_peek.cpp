#include "protocol/event_peek.hpp"

namespace llmb::protocol {

namespace {

// Reads `"key":` at pos and moves past it.
bool expect_key(std::string_view s, std::size_t& pos, std::string_view key) noexcept {
    if (s.size() < pos + key.size() + 3 || s[pos] != '"' || s.substr(pos + 1, key.size()) != key ||
        s[pos + 1 + key.size()] != '"' || s[pos + 2 + key.size()] != ':')
        return false;
    pos += key.size() + 3;
    return true;
}

// A string without escapes (ids, types and bridge ids are plain names).
bool read_plain_string(std::string_view s, std::size_t& pos, std::string_view& out) noexcept {
    if (pos >= s.size() || s[pos] != '"')
        return false;
    const auto end = s.find('"', pos + 1);
    if (end == std::string_view::npos)
        return false;
    out = s.substr(pos + 1, end - pos - 1);
    if (out.find('\\') != std::string_view::npos)
        return false;
    pos = end + 1;
    return true;
}

bool read_uint(std::string_view s, std::size_t& pos, std::uint64_t& out) noexcept {
    const std::size_t start = pos;
    out = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - start < 19) {
        out = out * 10 + static_cast<std::uint64_t>(s[pos] - '0');
        ++pos;
    }
    return pos > start;
}

bool is_terminal_type(std::string_view t) noexcept {
    return t == "done" || t == "error" || t == "session";
}

// The value of `"key":"...` found after pos (plain strings only).
// Outside strings a quote follows only '{', ',' or ':'; inside them it is escaped, so `,"key":`
// cannot be part of a string value.
std::string_view find_string_field(std::string_view s, std::size_t pos,
                                   std::string_view key) noexcept {
    for (auto at = s.find(key, pos); at != std::string_view::npos; at = s.find(key, at + 1)) {
        if (at < 2 || s[at - 1] != '"' || s[at - 2] != ',')
            continue;
        std::size_t p = at - 1;
        std::string_view out;
        if (expect_key(s, p, key) && read_plain_string(s, p, out))
            return out;
    }
    return {};
}

}  // namespace

std::optional<event_head> peek_event(std::string_view s) noexcept {
    event_head h;
    std::size_t pos = 0;
    if (s.empty() || s[0] != '{')
        return std::nullopt;
    pos = 1;
    if (!expect_key(s, pos, "id") || !read_plain_string(s, pos, h.id))
        return std::nullopt;
    if (pos >= s.size() || s[pos++] != ',')
        return std::nullopt;
    if (!expect_key(s, pos, "seq") || !read_uint(s, pos, h.seq))
        return std::nullopt;
    if (pos >= s.size() || s[pos++] != ',')
        return std::nullopt;
    if (!expect_key(s, pos, "type") || !read_plain_string(s, pos, h.type))
        return std::nullopt;
    if (h.type == "start") {
        h.bridge = find_string_field(s, pos, "bridge");
    } else if (h.type == "frag") {
        // ,"of":"done","part":N,"parts":M,"data":...
        std::string_view of;
        std::uint64_t part = 0, parts = 0;
        if (pos >= s.size() || s[pos++] != ',' || !expect_key(s, pos, "of") ||
            !read_plain_string(s, pos, of) || pos >= s.size() || s[pos++] != ',' ||
            !expect_key(s, pos, "part") || !read_uint(s, pos, part) || pos >= s.size() ||
            s[pos++] != ',' || !expect_key(s, pos, "parts") || !read_uint(s, pos, parts))
            return std::nullopt;
        h.terminal = is_terminal_type(of) && parts > 0 && part + 1 == parts;
    } else {
        h.terminal = is_terminal_type(h.type);
    }
    return h;
}

}  // namespace llmb::protocol
