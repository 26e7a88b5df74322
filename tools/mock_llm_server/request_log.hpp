// The bodies of the last chat completion requests, for GET /mock/requests.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace llmb::mock {

class request_log {
public:
    explicit request_log(std::size_t capacity) : capacity_(capacity) {}

    // Keeps body, dropping the oldest one when capacity bodies are kept already.
    void add(std::string_view body);

    // A JSON array of the kept bodies, oldest first: each body that is JSON as its value, any
    // other as a string (invalid UTF-8 replaced by U+FFFD).
    std::string to_json() const;

private:
    std::size_t capacity_;
    std::deque<std::string> bodies_;
};

}  // namespace llmb::mock
