// The file format of one session: a JSON object on one line, ending in a newline,
//
//   {"client":"dev1","created_ms":1700000000000,"last_used_ms":1700000005000,
//    "messages":[{"content":"hi","role":"user","tokens":3},...],"project":"llm",
//    "session":"s1","system":"Be brief.","version":1}
//
// keys sorted, times in milliseconds since the epoch, "system" null when unset, UTF-8 as it is.
// The key is repeated inside so that a file copied or moved to another session's place is
// refused rather than taken for that session. Unknown keys are ignored when reading.
//
// Pure: bytes in, a session out, and the other way round; no files here (session_files.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "daemon/sessions/session.hpp"

namespace llmb {

// Why a file's text is not a session.
enum class session_file_error {
    not_an_object,       // not JSON, or JSON but not an object
    bad_version,         // "version" missing or not 1
    wrong_place,         // project/client/session are not the key of the file's place
    bad_system,          // "system" neither a string nor null
    bad_times,           // created_ms/last_used_ms missing or not integers
    times_out_of_range,  // beyond what the clock holds (about 292 years either side of 1970)
    messages_not_array,  // "messages" missing or not an array
    bad_message,         // a message that is not {role, content, tokens (32 bits, unsigned)}
};

// The reason as a warning states it.
std::string_view describe(session_file_error e) noexcept;

struct decoded_session_file {
    std::optional<session> value;  // nullopt: refused, error says why
    session_file_error error{};    // meaningful only when value is nullopt
};

// The file's bytes. Invalid UTF-8 in the texts is replaced (U+FFFD) rather than failing.
std::string encode_session_file(const session_key& key, const session& s);

// The session in a file's bytes, which must name `key`. Never throws.
decoded_session_file decode_session_file(std::string_view text, const session_key& key);

}  // namespace llmb
