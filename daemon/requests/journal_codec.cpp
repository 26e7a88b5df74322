#include "daemon/requests/journal_codec.hpp"

#include <charconv>
#include <map>
#include <optional>

namespace llmb {

namespace {

bool needs_escape(unsigned char c) {
    return c <= 0x20 || c == '%' || c == 0x7f;
}

void append_escaped(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    if (s.empty()) {
        out += '%';  // a lone '%' stands for the empty string
        return;
    }
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (needs_escape(c)) {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += ch;
        }
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::optional<std::string> unescape(std::string_view s) {
    if (s == "%")
        return std::string();
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size())
            return std::nullopt;
        const int hi = hex_value(s[i + 1]);
        const int lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out += static_cast<char>((hi << 4) | lo);
        i += 2;
    }
    return out;
}

std::optional<std::uint64_t> number(std::string_view s) {
    std::uint64_t v = 0;
    const auto* end = s.data() + s.size();
    const auto r = std::from_chars(s.data(), end, v);
    if (r.ec != std::errc() || r.ptr != end || s.empty())
        return std::nullopt;
    return v;
}

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> f;
    std::size_t start = 0;
    while (start <= line.size()) {
        const std::size_t sp = line.find(' ', start);
        const std::size_t end = sp == std::string_view::npos ? line.size() : sp;
        f.push_back(line.substr(start, end - start));
        if (sp == std::string_view::npos)
            break;
        start = sp + 1;
    }
    return f;
}

std::optional<journal_entry> parse_begin(const std::vector<std::string_view>& f) {
    if (f.size() != 10)
        return std::nullopt;
    journal_entry e;
    const auto handle = number(f[1]);
    const auto seq = number(f[2]);
    const auto limit = number(f[3]);
    if (!handle || !seq || !limit || (f[4] != "0" && f[4] != "1"))
        return std::nullopt;
    e.handle = *handle;
    e.next_seq = *seq;
    e.limit = static_cast<std::size_t>(*limit);
    e.legacy = f[4] == "1";
    std::string* strings[] = {&e.project, &e.client, &e.id, &e.topic, &e.correlation};
    for (std::size_t i = 0; i < 5; ++i) {
        auto s = unescape(f[5 + i]);
        if (!s)
            return std::nullopt;
        *strings[i] = std::move(*s);
    }
    return e;
}

}  // namespace

bool journal_entry::operator==(const journal_entry& o) const {
    return handle == o.handle && next_seq == o.next_seq && limit == o.limit && legacy == o.legacy &&
           project == o.project && client == o.client && id == o.id && topic == o.topic &&
           correlation == o.correlation;
}

void append_begin_record(std::string& out, const journal_entry& e) {
    out += "B ";
    out += std::to_string(e.handle);
    out += ' ';
    out += std::to_string(e.next_seq);
    out += ' ';
    out += std::to_string(e.limit);
    out += e.legacy ? " 1" : " 0";
    for (const std::string* s : {&e.project, &e.client, &e.id, &e.topic, &e.correlation}) {
        out += ' ';
        append_escaped(out, *s);
    }
    out += '\n';
}

void append_seq_record(std::string& out, std::uint64_t handle, std::uint64_t next_seq) {
    out += "S ";
    out += std::to_string(handle);
    out += ' ';
    out += std::to_string(next_seq);
    out += '\n';
}

void append_end_record(std::string& out, std::uint64_t handle) {
    out += "E ";
    out += std::to_string(handle);
    out += '\n';
}

journal_replay replay_journal(std::string_view text) {
    journal_replay r;
    std::map<std::uint64_t, journal_entry> live;  // by handle: handles grow with time
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) {
            r.torn_tail = true;
            break;
        }
        const auto f = fields(text.substr(pos, nl - pos));
        pos = nl + 1;
        const std::uint64_t handle = f.size() >= 2 ? number(f[1]).value_or(0) : 0;
        const auto seq = f.size() == 3 ? number(f[2]) : std::nullopt;
        if (f[0] == "B") {
            auto e = parse_begin(f);
            if (e)
                live[e->handle] = std::move(*e);
            else
                ++r.bad_records;
        } else if (f[0] == "S" && handle != 0 && seq) {
            auto it = live.find(handle);
            if (it != live.end())
                it->second.next_seq = *seq;
        } else if (f[0] == "E" && f.size() == 2 && handle != 0) {
            live.erase(handle);
        } else {
            ++r.bad_records;
        }
    }
    for (auto& [h, e] : live)
        r.live.push_back(std::move(e));
    return r;
}

std::string encode_journal_snapshot(const std::vector<journal_entry>& live) {
    std::string out;
    for (const auto& e : live)
        append_begin_record(out, e);
    return out;
}

}  // namespace llmb
