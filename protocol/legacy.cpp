#include "protocol/legacy.hpp"

#include <nlohmann/json.hpp>

#include "protocol/json_text.hpp"

namespace llmb::protocol {

namespace {

using nlohmann::json;

// A topic level or name the broker accepts in a PUBLISH: no wildcards, no NUL, valid UTF-8.
bool publishable(std::string_view topic) {
    return !topic.empty() && topic.size() <= 1024 &&
           topic.find_first_of(std::string_view("+#\0", 3)) == std::string_view::npos &&
           valid_utf8(topic);
}

std::string message_json(std::string_view role, std::string_view content) {
    std::string s = "{\"role\":";
    append_json_string(s, role);
    s += ",\"content\":";
    append_json_string(s, content);
    s += '}';
    return s;
}

}  // namespace

std::string legacy_input_topic(std::string_view prefix) {
    return std::string(prefix) + "/user_input";
}

legacy_request decode_legacy(std::string_view payload, std::string_view prefix,
                             const request_limits& limits, std::string_view generated_id) {
    legacy_request out;
    auto fail = [&](error_code code, std::string msg) {
        out.req.reset();
        out.err = error{code, std::move(msg), std::nullopt};
        return out;
    };
    if (payload.size() > limits.max_request_bytes) {
        return fail(error_code::too_large, "the message is larger than " +
                                               std::to_string(limits.max_request_bytes) + " bytes");
    }
    if (json_nested_deeper_than(payload, 64)) {
        return fail(error_code::bad_request, "the message nests JSON deeper than 64 levels");
    }
    const json j = json::parse(payload.begin(), payload.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(error_code::bad_request, "the message is not a JSON object");
    }
    const std::string reply_prefix = std::string(prefix) + "/assistant_response/";
    if (auto it = j.find("sessionId"); it != j.end() && it->is_string()) {
        out.session_id = it->get<std::string>();
        const std::string topic = reply_prefix + out.session_id;
        // An empty sessionId names no topic level: "{prefix}/assistant_response/" is not one.
        if (!out.session_id.empty() && out.session_id.find('/') == std::string::npos &&
            publishable(topic)) {
            out.reply_topic = topic;
        }
    }
    if (auto it = j.find("replyTopic"); it != j.end() && !it->is_null()) {
        const std::string topic = it->is_string() ? it->get<std::string>() : std::string();
        if (topic.rfind(reply_prefix, 0) != 0 || topic.size() == reply_prefix.size() ||
            !publishable(topic)) {
            out.reply_topic.clear();  // the request asked for a topic we may not publish on
            return fail(error_code::bad_request,
                        "replyTopic must lie under " + reply_prefix + " without wildcards");
        }
        out.reply_topic = topic;
    }
    if (out.session_id.empty()) {
        return fail(error_code::bad_request, "sessionId must be a non-empty string");
    }
    const auto msg = j.find("message");
    if (msg == j.end() || !msg->is_string() || msg->get_ref<const std::string&>().empty()) {
        return fail(error_code::bad_request, "message must be a non-empty string");
    }

    request r;
    r.id = std::string(generated_id);
    r.id_generated = true;
    r.stream = false;
    if (valid_name(out.session_id))
        r.session = out.session_id;
    if (auto it = j.find("systemPrompt"); it != j.end() && !it->is_null()) {
        if (!it->is_string())
            return fail(error_code::bad_request, "systemPrompt must be a string");
        const auto& s = it->get_ref<const std::string&>();
        if (!s.empty())
            r.messages.push_back({"system", s, message_json("system", s)});
    }
    const auto& text = msg->get_ref<const std::string&>();
    r.messages.push_back({"user", text, message_json("user", text)});
    auto number = [&](const char* key, double lo, double hi, std::optional<double>& dst) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null())
            return true;
        if (!it->is_number() || it->get<double>() < lo || it->get<double>() > hi)
            return false;
        dst = it->get<double>();
        return true;
    };
    if (!number("temperature", 0, 2, r.temperature)) {
        return fail(error_code::bad_request, "temperature must be a number from 0 to 2");
    }
    if (!number("topP", 0, 1, r.top_p)) {
        return fail(error_code::bad_request, "topP must be a number from 0 to 1");
    }
    if (auto it = j.find("maxTokens"); it != j.end() && !it->is_null()) {
        if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
            it->get<std::int64_t>() > limits.max_tokens) {
            return fail(error_code::bad_request, "maxTokens must be an integer from 1 to " +
                                                     std::to_string(limits.max_tokens));
        }
        r.max_tokens = static_cast<std::uint32_t>(it->get<std::int64_t>());
    }
    out.req = std::move(r);
    return out;
}

}  // namespace llmb::protocol
