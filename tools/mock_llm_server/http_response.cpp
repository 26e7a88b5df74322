#include "http_response.hpp"

#include <array>
#include <charconv>

#include "protocol/json_text.hpp"

namespace llmb::mock {

namespace {

constexpr std::string_view server_header = "Server: mock-llm-server\r\n";

void append_status_line(std::string& out, int status) {
    out += "HTTP/1.1 ";
    append_int(out, status);
    out += ' ';
    out += reason_phrase(status);
    out += "\r\n";
    out += server_header;
}

void append_extra(std::string& out, std::span<const header> extra, bool keep_alive) {
    for (const header& h : extra) {
        out += h.name;
        out += ": ";
        out += h.value;
        out += "\r\n";
    }
    if (!keep_alive) {
        out += "Connection: close\r\n";
    }
    out += "\r\n";
}

}  // namespace

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 413:
            return "Payload Too Large";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

void append_head(std::string& out, int status, std::string_view content_type,
                 std::size_t content_length, bool keep_alive, std::span<const header> extra) {
    append_status_line(out, status);
    out += "Content-Type: ";
    out += content_type;
    out += "\r\nContent-Length: ";
    append_uint(out, content_length);
    out += "\r\n";
    append_extra(out, extra, keep_alive);
}

void append_response(std::string& out, int status, std::string_view content_type,
                     std::string_view body, bool keep_alive, std::span<const header> extra) {
    append_head(out, status, content_type, body.size(), keep_alive, extra);
    out += body;
}

void append_event_stream_head(std::string& out, bool keep_alive) {
    append_status_line(out, 200);
    out +=
        "X-Accel-Buffering: no\r\n"
        "Content-Type: text/event-stream\r\n"
        "Transfer-Encoding: chunked\r\n";
    append_extra(out, {}, keep_alive);
}

void append_chunk(std::string& out, std::string_view data) {
    std::array<char, 20> hex{};
    const auto [end, ec] = std::to_chars(hex.data(), hex.data() + hex.size(), data.size(), 16);
    out.append(hex.data(), end);
    out += "\r\n";
    out += data;
    out += "\r\n";
}

void append_last_chunk(std::string& out) {
    out += "0\r\n\r\n";
}

std::string error_body(int code, std::string_view message, std::string_view type) {
    std::string body = R"({"error":{"code":)";
    append_int(body, code);
    body += R"(,"message":)";
    protocol::append_json_string(body, message);
    body += R"(,"type":)";
    protocol::append_json_string(body, type);
    body += "}}";
    return body;
}

void append_uint(std::string& out, std::uint64_t v) {
    std::array<char, 24> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), end);
}

void append_int(std::string& out, std::int64_t v) {
    std::array<char, 24> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), end);
}

}  // namespace llmb::mock
