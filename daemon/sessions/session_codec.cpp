// One session as the bytes of its file, and back (see session_codec.hpp).
#include "daemon/sessions/session_codec.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace llmb {

namespace {

constexpr int file_version = 1;

using time_point = std::chrono::system_clock::time_point;

std::int64_t to_ms(time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Milliseconds that a time_point holds without overflow (its unit is finer).
bool in_range(const nlohmann::json& ms) {
    constexpr auto limit =
        std::chrono::duration_cast<std::chrono::milliseconds>(time_point::duration::max()).count();
    if (ms.is_number_unsigned())
        return ms.get<std::uint64_t>() <= static_cast<std::uint64_t>(limit);
    const auto v = ms.get<std::int64_t>();
    return v >= -limit && v <= limit;
}

time_point from_ms(std::int64_t ms) {
    return time_point(
        std::chrono::duration_cast<time_point::duration>(std::chrono::milliseconds(ms)));
}

decoded_session_file refused(session_file_error e) {
    return {std::nullopt, e};
}

}  // namespace

std::string_view describe(session_file_error e) noexcept {
    switch (e) {
        case session_file_error::not_an_object:
            return "not a JSON object";
        case session_file_error::bad_version:
            return "unknown or missing version";
        case session_file_error::wrong_place:
            return "project/client/session do not match the file's place";
        case session_file_error::bad_system:
            return "system is not a string";
        case session_file_error::bad_times:
            return "created_ms/last_used_ms missing";
        case session_file_error::times_out_of_range:
            return "created_ms/last_used_ms out of range";
        case session_file_error::messages_not_array:
            return "messages is not an array";
        case session_file_error::bad_message:
            return "a message is not {role, content, tokens}";
    }
    return "unknown error";
}

std::string encode_session_file(const session_key& key, const session& s) {
    nlohmann::json messages = nlohmann::json::array();
    for (const auto& m : s.messages) {
        messages.push_back({{"role", m.role}, {"content", m.content}, {"tokens", m.tokens}});
    }
    nlohmann::json doc = {
        {"version", file_version},
        {"project", key.project},
        {"client", key.client},
        {"session", key.session},
        {"system", s.system ? nlohmann::json(*s.system) : nlohmann::json(nullptr)},
        {"created_ms", to_ms(s.created)},
        {"last_used_ms", to_ms(s.last_used)},
        {"messages", std::move(messages)},
    };
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

decoded_session_file decode_session_file(std::string_view text, const session_key& key) {
    const auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return refused(session_file_error::not_an_object);
    }
    const auto field = [&](const char* name) -> const nlohmann::json* {
        const auto it = doc.find(name);
        return it == doc.end() ? nullptr : &*it;
    };
    const auto* version = field("version");
    if (version == nullptr || !version->is_number_integer() || *version != file_version) {
        return refused(session_file_error::bad_version);
    }
    const auto* project = field("project");
    const auto* client = field("client");
    const auto* name = field("session");
    if (project == nullptr || client == nullptr || name == nullptr || *project != key.project ||
        *client != key.client || *name != key.session) {
        return refused(session_file_error::wrong_place);
    }
    session s;
    const auto* system = field("system");
    if (system != nullptr && system->is_string()) {
        s.system = system->get<std::string>();
    } else if (system != nullptr && !system->is_null()) {
        return refused(session_file_error::bad_system);
    }
    const auto* created = field("created_ms");
    const auto* last_used = field("last_used_ms");
    if (created == nullptr || !created->is_number_integer() || last_used == nullptr ||
        !last_used->is_number_integer()) {
        return refused(session_file_error::bad_times);
    }
    if (!in_range(*created) || !in_range(*last_used)) {
        return refused(session_file_error::times_out_of_range);
    }
    s.created = from_ms(created->get<std::int64_t>());
    s.last_used = from_ms(last_used->get<std::int64_t>());
    const auto* messages = field("messages");
    if (messages == nullptr || !messages->is_array()) {
        return refused(session_file_error::messages_not_array);
    }
    for (const auto& m : *messages) {
        if (!m.is_object()) {
            return refused(session_file_error::bad_message);
        }
        const auto role = m.find("role");
        const auto content = m.find("content");
        const auto tokens = m.find("tokens");
        if (role == m.end() || !role->is_string() || content == m.end() || !content->is_string() ||
            tokens == m.end() || !tokens->is_number_unsigned() ||
            tokens->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
            return refused(session_file_error::bad_message);
        }
        s.messages.push_back(
            {role->get<std::string>(), content->get<std::string>(), tokens->get<std::uint32_t>()});
    }
    return {std::move(s), {}};
}

}  // namespace llmb
