// Topic names of the protocol, built from a prefix ("llm" by default).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmb::protocol {

enum class inbound_kind { request, cancel, session, resume };

struct inbound_topic {
    inbound_kind kind;
    std::string prefix;  // the project prefix the message came in on
    std::string client;  // the client segment, not yet validated (see valid_name)
};

// True when prefix is a usable project prefix: one or more levels of [A-Za-z0-9_.-]{1,64}
// separated by '/', no wildcards, no leading '$' or '/'.
bool valid_prefix(std::string_view prefix) noexcept;

// Classifies {prefix}/request/{client}, {prefix}/cancel/{client}, {prefix}/session/{client},
// {prefix}/resume/{client};
// nullopt for anything else (including extra levels and a different prefix).
std::optional<inbound_topic> parse_inbound(std::string_view topic, std::string_view prefix);

std::string request_filter(std::string_view prefix);  // {prefix}/request/+
std::string cancel_filter(std::string_view prefix);   // {prefix}/cancel/+
std::string session_filter(std::string_view prefix);  // {prefix}/session/+
std::string resume_filter(std::string_view prefix);   // {prefix}/resume/+
std::string response_topic(std::string_view prefix, std::string_view client, std::string_view id);
std::string text_topic(std::string_view prefix, std::string_view client, std::string_view id);
std::string status_topic(std::string_view prefix);  // {prefix}/status

// $share/{group}/{filter}: the bridges of a group split the messages matching filter.
std::string shared_filter(std::string_view group, std::string_view filter);

// The placeholder a response prefix may hold for the requesting client: "{client}".
inline constexpr std::string_view client_placeholder = "{client}";

// Whether a configured response prefix is usable: not empty, no wildcards, no leading '$' or
// '/', and every "{client}" a whole level followed by '/' (e.g. "devices/{client}/answers/").
// No other '{' or '}'.
bool valid_response_prefix(std::string_view prefix) noexcept;

// The prefix with each "{client}" replaced by client.
std::string expand_response_prefix(std::string_view prefix, std::string_view client);

// The default response prefix of a project: {prefix}/response/{client}/ (unexpanded).
std::string default_response_prefix(std::string_view prefix);

// A subscription filter for every topic under a response prefix: each "{client}" becomes '+',
// and '#' is appended ("llm/response/{client}/" gives "llm/response/+/#").
std::string response_prefix_filter(std::string_view prefix);

// Whether topic lies under the prefix, each "{client}" matching one non-empty level.
bool under_response_prefix(std::string_view topic, std::string_view prefix) noexcept;

// Whether an MQTT 5 Response Topic of a request from `client` may be published on: it starts
// with one of the allowed prefixes (each "{client}" replaced by client) and has something after
// it, has no wildcard or NUL, and is at most 65535 bytes.
bool response_topic_allowed(std::string_view topic,
                            const std::vector<std::string>& allowed_prefixes,
                            std::string_view client);

}  // namespace llmb::protocol
