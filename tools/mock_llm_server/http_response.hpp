// Formatting of HTTP/1.1 responses: heads, Content-Length bodies, chunked bodies. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace llmb::mock {

struct header {
    std::string_view name;
    std::string_view value;
};

inline constexpr std::string_view json_type = "application/json; charset=utf-8";

// "HTTP/1.1 100 Continue" and its blank line.
inline constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

std::string_view reason_phrase(int status) noexcept;

// Status line and headers of a response whose body has content_length bytes.
void append_head(std::string& out, int status, std::string_view content_type,
                 std::size_t content_length, bool keep_alive, std::span<const header> extra = {});

// A complete response with a Content-Length body.
void append_response(std::string& out, int status, std::string_view content_type,
                     std::string_view body, bool keep_alive, std::span<const header> extra = {});

// Status line and headers of a 200 text/event-stream response with a chunked body.
void append_event_stream_head(std::string& out, bool keep_alive);

// One chunk of a chunked body (data must not be empty) and the last, zero-length chunk.
void append_chunk(std::string& out, std::string_view data);
void append_last_chunk(std::string& out);

// An OpenAI-style error body: {"error":{"code":C,"message":"...","type":"..."}}.
std::string error_body(int code, std::string_view message, std::string_view type);

// Decimal digits of v appended to out.
void append_uint(std::string& out, std::uint64_t v);
void append_int(std::string& out, std::int64_t v);

}  // namespace llmb::mock
