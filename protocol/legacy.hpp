// The message format of the deployment this bridge replaces: {project}/user_input with
// {"sessionId","message","temperature","topP","maxTokens","systemPrompt","replyTopic"},
// answered by one plain-text message ("Error: ..." on failure) on
// {project}/assistant_response/{sessionId} or on the replyTopic the request names.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"
#include "request.hpp"

namespace llmb::protocol {

struct legacy_request {
    std::string reply_topic;     // where the answer goes; empty when none can be addressed
    std::string session_id;      // as the client sent it
    std::optional<request> req;  // a whole-mode request (stream false), set on success
    std::optional<error> err;    // bad_request / too_large, answered on reply_topic if set
};

// {prefix}/user_input
std::string legacy_input_topic(std::string_view prefix);

// Decodes an old-style message. generated_id names the request. The reply topic is
// {prefix}/assistant_response/{sessionId}, or replyTopic when it lies under
// {prefix}/assistant_response/ and holds no wildcard (otherwise the request is refused).
legacy_request decode_legacy(std::string_view payload, std::string_view prefix,
                             const request_limits& limits, std::string_view generated_id);

}  // namespace llmb::protocol
