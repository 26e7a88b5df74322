// Decoding of resume messages (llm/resume/{client}): a device that reconnected asks for the
// events of one of its requests again, from a seq on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/error.hpp"

namespace llmb::protocol {

// The largest resume payload read; {"id":"<64 characters>","from_seq":<integer>} is far less.
inline constexpr std::size_t max_resume_bytes = 1024;

struct resume_request {
    std::string id;              // the request whose events are wanted
    std::uint64_t from_seq = 0;  // the first seq wanted
};

struct decoded_resume {
    std::optional<resume_request> resume;  // set when the payload is valid
    std::optional<error> err;              // bad_request otherwise
};

// {"id":"<name>","from_seq":N}: a JSON object of at most max_resume_bytes, valid UTF-8, with a
// valid name as "id" and an integer 0..2^53 as "from_seq" (256 and 256.0 alike). Unknown fields
// are ignored. Never throws: every failure is a bad_request that says what is wrong.
decoded_resume decode_resume(std::string_view payload);

}  // namespace llmb::protocol
