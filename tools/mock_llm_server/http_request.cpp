#include "http_request.hpp"

#include <charconv>
#include <cstdint>

namespace llmb::mock {

namespace {

constexpr std::uint64_t max_content_length = std::uint64_t{1} << 40;

char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// Calls f(token) for each comma-separated, trimmed, non-empty token of a header value.
template <typename F>
void for_each_token(std::string_view value, F&& f) {
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        const std::string_view token = trim(value.substr(0, comma));
        if (!token.empty()) {
            f(token);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
}

bool is_token_char(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Splits off the next line (without its CR LF or LF).
std::string_view next_line(std::string_view& rest) noexcept {
    const std::size_t lf = rest.find('\n');
    std::string_view line = rest.substr(0, lf);
    rest.remove_prefix(lf == std::string_view::npos ? rest.size() : lf + 1);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    return line;
}

bool parse_request_line(std::string_view line, request_head& out, int& minor, std::string& error) {
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        error = "malformed request line";
        return false;
    }
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (method.empty() || target.empty()) {
        error = "malformed request line";
        return false;
    }
    for (const char c : method) {
        if (!is_token_char(c)) {
            error = "malformed method";
            return false;
        }
    }
    if (version == "HTTP/1.1") {
        minor = 1;
    } else if (version == "HTTP/1.0") {
        minor = 0;
    } else {
        error = "unsupported HTTP version";
        return false;
    }
    out.method.assign(method);
    out.target.assign(target);
    return true;
}

}  // namespace

std::size_t find_head_end(std::string_view buf, std::size_t from) noexcept {
    std::size_t i = from > 3 ? from - 3 : 0;
    while (true) {
        const std::size_t lf = buf.find('\n', i);
        if (lf == std::string_view::npos) {
            return std::string_view::npos;
        }
        // A blank line: LF directly after the previous LF, or after CR LF.
        if (lf >= 1 && buf[lf - 1] == '\n') {
            return lf + 1;
        }
        if (lf >= 2 && buf[lf - 1] == '\r' && buf[lf - 2] == '\n') {
            return lf + 1;
        }
        i = lf + 1;
    }
}

bool parse_request_head(std::string_view head, request_head& out, std::string& error) {
    out = request_head{};
    std::string_view rest = head;
    int minor = 1;
    if (!parse_request_line(next_line(rest), out, minor, error)) {
        return false;
    }
    bool have_length = false;
    bool close = minor == 0;
    while (!rest.empty()) {
        const std::string_view line = next_line(rest);
        if (line.empty()) {
            break;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            error = "obsolete header line folding";
            return false;
        }
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            error = "malformed header line";
            return false;
        }
        const std::string_view name = line.substr(0, colon);
        for (const char c : name) {
            if (!is_token_char(c)) {
                error = "malformed header name";
                return false;
            }
        }
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "content-length")) {
            std::uint64_t n = 0;
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc{} || end != value.data() + value.size() || value.empty() ||
                n > max_content_length) {
                error = "invalid Content-Length";
                return false;
            }
            if (have_length && n != out.content_length) {
                error = "conflicting Content-Length headers";
                return false;
            }
            have_length = true;
            out.content_length = static_cast<std::size_t>(n);
        } else if (iequals(name, "transfer-encoding")) {
            for_each_token(value, [&](std::string_view t) {
                if (iequals(t, "chunked")) {
                    out.chunked = true;
                }
            });
        } else if (iequals(name, "connection")) {
            for_each_token(value, [&](std::string_view t) {
                if (iequals(t, "close")) {
                    close = true;
                } else if (iequals(t, "keep-alive")) {
                    close = false;
                }
            });
        } else if (iequals(name, "expect")) {
            out.expect_continue = iequals(value, "100-continue");
        } else if (iequals(name, "authorization")) {
            out.authorization.assign(value);
        }
    }
    if (out.chunked && have_length) {
        error = "both Content-Length and Transfer-Encoding";
        return false;
    }
    out.keep_alive = !close;
    return true;
}

std::string_view target_path(std::string_view target) noexcept {
    return target.substr(0, target.find('?'));
}

}  // namespace llmb::mock
