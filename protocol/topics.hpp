// Topic names of the protocol, built from a prefix ("llm" by default).
#pragma once

#include <optional>
#include <string>
#include <string_view>

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

}  // namespace llmb::protocol
