#include "protocol/topics.hpp"

#include <algorithm>
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
    if (level == "resume") {
        return inbound_kind::resume;
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

std::string resume_filter(std::string_view prefix) {
    return join({prefix, "resume", "+"});
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

bool valid_response_prefix(std::string_view prefix) noexcept {
    if (prefix.empty() || prefix.find_first_of("+#") != std::string_view::npos ||
        prefix.front() == '$' || prefix.front() == '/' ||
        prefix.find('\0') != std::string_view::npos)
        return false;
    std::size_t pos = 0;
    while (pos < prefix.size()) {
        const auto open = prefix.find_first_of("{}", pos);
        if (open == std::string_view::npos)
            return true;
        if (prefix.compare(open, client_placeholder.size(), client_placeholder) != 0)
            return false;
        const auto end = open + client_placeholder.size();
        if ((open != 0 && prefix[open - 1] != '/') || end >= prefix.size() || prefix[end] != '/')
            return false;
        pos = end;
    }
    return true;
}

std::string expand_response_prefix(std::string_view prefix, std::string_view client) {
    std::string out;
    std::size_t pos = 0;
    for (auto at = prefix.find(client_placeholder); at != std::string_view::npos;
         at = prefix.find(client_placeholder, pos)) {
        out.append(prefix.substr(pos, at - pos));
        out.append(client);
        pos = at + client_placeholder.size();
    }
    out.append(prefix.substr(pos));
    return out;
}

std::string default_response_prefix(std::string_view prefix) {
    return std::string(prefix) + "/response/" + std::string(client_placeholder) + "/";
}

std::string response_prefix_filter(std::string_view prefix) {
    return expand_response_prefix(prefix, "+") + "#";
}

bool under_response_prefix(std::string_view topic, std::string_view prefix) noexcept {
    std::size_t t = 0;
    std::size_t p = 0;
    while (p < prefix.size()) {
        const auto at = prefix.find(client_placeholder, p);
        const auto literal = prefix.substr(p, at == std::string_view::npos ? at : at - p);
        if (topic.substr(t, literal.size()) != literal)
            return false;
        t += literal.size();
        p += literal.size();
        if (at == std::string_view::npos)
            break;
        const auto level_end = std::min(topic.find('/', t), topic.size());
        if (level_end == t)
            return false;  // an empty level is no client
        t = level_end;
        p = at + client_placeholder.size();
    }
    return true;
}

bool response_topic_allowed(std::string_view topic,
                            const std::vector<std::string>& allowed_prefixes,
                            std::string_view client) {
    if (topic.empty() || topic.size() > 65535 ||
        topic.find_first_of(std::string_view("+#\0", 3)) != std::string_view::npos)
        return false;
    for (const auto& pattern : allowed_prefixes) {
        const std::string prefix = expand_response_prefix(pattern, client);
        if (!prefix.empty() && topic.size() > prefix.size() &&
            topic.substr(0, prefix.size()) == prefix)
            return true;
    }
    return false;
}

}  // namespace llmb::protocol
