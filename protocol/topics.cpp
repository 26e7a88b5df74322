#include "protocol/topics.hpp"

#include <initializer_list>

#include "protocol/request.hpp"

namespace llmb::protocol {

namespace {

std::string join(std::initializer_list<std::string_view> levels) {
    std::size_t size = 0;
    for (auto level : levels) {
        size += level.size() + 1;
    }
    std::string out;
    out.reserve(size);
    for (auto level : levels) {
        out += level;
        out += '/';
    }
    out.pop_back();
    return out;
}

std::optional<inbound_kind> kind_of(std::string_view level) noexcept {
    if (level == "request") {
        return inbound_kind::request;
    }
    if (level == "cancel") {
        return inbound_kind::cancel;
    }
    if (level == "session") {
        return inbound_kind::session;
    }
    return std::nullopt;
}

}  // namespace

bool valid_prefix(std::string_view prefix) noexcept {
    if (prefix.empty()) {
        return false;
    }
    while (true) {
        const auto slash = prefix.find('/');
        if (!valid_name(prefix.substr(0, slash))) {
            return false;
        }
        if (slash == std::string_view::npos) {
            return true;
        }
        prefix.remove_prefix(slash + 1);
    }
}

std::optional<inbound_topic> parse_inbound(std::string_view topic, std::string_view prefix) {
    if (!valid_prefix(prefix) || topic.size() <= prefix.size() ||
        topic.substr(0, prefix.size()) != prefix || topic[prefix.size()] != '/') {
        return std::nullopt;
    }
    const auto rest = topic.substr(prefix.size() + 1);
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
        return std::nullopt;
    }
    const auto kind = kind_of(rest.substr(0, slash));
    const auto client = rest.substr(slash + 1);
    // One more level exactly: not empty, no further level, never a wildcard.
    if (!kind || client.empty() || client.find_first_of("/+#") != std::string_view::npos) {
        return std::nullopt;
    }
    return inbound_topic{*kind, std::string(prefix), std::string(client)};
}

std::string request_filter(std::string_view prefix) {
    return join({prefix, "request", "+"});
}

std::string cancel_filter(std::string_view prefix) {
    return join({prefix, "cancel", "+"});
}

std::string session_filter(std::string_view prefix) {
    return join({prefix, "session", "+"});
}

std::string response_topic(std::string_view prefix, std::string_view client, std::string_view id) {
    return join({prefix, "response", client, id});
}

std::string text_topic(std::string_view prefix, std::string_view client, std::string_view id) {
    return join({prefix, "text", client, id});
}

std::string status_topic(std::string_view prefix) {
    return join({prefix, "status"});
}

std::string shared_filter(std::string_view group, std::string_view filter) {
    return join({"$share", group, filter});
}

bool response_topic_allowed(std::string_view topic,
                            const std::vector<std::string>& allowed_prefixes) noexcept {
    if (topic.empty() || topic.size() > 65535 ||
        topic.find_first_of(std::string_view("+#\0", 3)) != std::string_view::npos)
        return false;
    for (const auto& prefix : allowed_prefixes) {
        if (!prefix.empty() && topic.size() > prefix.size() &&
            topic.substr(0, prefix.size()) == prefix)
            return true;
    }
    return false;
}

}  // namespace llmb::protocol
