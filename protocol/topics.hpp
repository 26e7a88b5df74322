// Topic names of the protocol, built from a prefix ("llm" by default).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmb::protocol {

enum class inbound_kind { request, cancel, session };

struct inbound_topic {
    inbound_kind kind;
    std::string prefix;  // the project prefix the message came in on
    std::string client;  // the client segment, not yet validated (see valid_name)
};

// True when prefix is a usable project prefix: one or more levels of [A-Za-z0-9_.-]{1,64}
// separated by '/', no wildcards, no leading '$' or '/'.
bool valid_prefix(std::string_view prefix) noexcept;

// Classifies {prefix}/request/{client}, {prefix}/cancel/{client}, {prefix}/session/{client};
// nullopt for anything else (including extra levels and a different prefix).
std::optional<inbound_topic> parse_inbound(std::string_view topic, std::string_view prefix);

std::string request_filter(std::string_view prefix);  // {prefix}/request/+
std::string cancel_filter(std::string_view prefix);   // {prefix}/cancel/+
std::string session_filter(std::string_view prefix);  // {prefix}/session/+
std::string response_topic(std::string_view prefix, std::string_view client, std::string_view id);
std::string text_topic(std::string_view prefix, std::string_view client, std::string_view id);
std::string status_topic(std::string_view prefix);  // {prefix}/status

// $share/{group}/{filter}: the bridges of a group split the messages matching filter.
std::string shared_filter(std::string_view group, std::string_view filter);

// Whether an MQTT 5 Response Topic may be published on: it starts with one of the allowed
// prefixes and has something after it, has no wildcard or NUL, and is at most 65535 bytes.
bool response_topic_allowed(std::string_view topic,
                            const std::vector<std::string>& allowed_prefixes) noexcept;

}  // namespace llmb::protocol
