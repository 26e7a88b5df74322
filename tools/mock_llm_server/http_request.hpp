// Parsing of HTTP/1.1 request heads as they arrive on a socket. Pure: no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace llmb::mock {

inline constexpr std::size_t max_head_bytes = 64 * 1024;

struct request_head {
    std::string method;
    std::string target;  // path (and query) as sent
    std::size_t content_length = 0;
    bool chunked = false;  // Transfer-Encoding: chunked
    bool keep_alive = true;
    bool expect_continue = false;  // Expect: 100-continue
    std::string authorization;
};

// Offset just past the blank line that ends the head at the start of buf, or npos when it has not
// arrived yet. Bytes before `from` were searched already (a restart point, not a guarantee).
std::size_t find_head_end(std::string_view buf, std::size_t from) noexcept;

// Parses a complete head (request line, header lines, blank line; CRLF or LF line ends). Returns
// false with a reason in error when it is not a valid HTTP/1.x request head.
bool parse_request_head(std::string_view head, request_head& out, std::string& error);

// The path of a request target without its query string.
std::string_view target_path(std::string_view target) noexcept;

}  // namespace llmb::mock
