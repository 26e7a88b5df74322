#include "chat_request.hpp"

#include <nlohmann/json.hpp>

#include "http_response.hpp"

namespace llmb::mock {

namespace {

using json = nlohmann::json;

std::string content_text(const json& content) {
    if (content.is_string()) {
        return content.get<std::string>();
    }
    std::string text;
    if (!content.is_array()) {
        return text;
    }
    bool first = true;
    for (const json& part : content) {
        if (!part.is_object()) {
            continue;
        }
        const auto t = part.find("text");
        if (t == part.end() || !t->is_string()) {
            continue;
        }
        if (!first) {
            text += '\n';
        }
        text += t->get_ref<const std::string&>();
        first = false;
    }
    return text;
}

std::optional<std::size_t> token_limit(const json& j) {
    for (const char* key : {"max_tokens", "max_completion_tokens"}) {
        const auto it = j.find(key);
        if (it != j.end() && it->is_number_integer() && *it >= 0) {
            return it->get<std::size_t>();
        }
    }
    return std::nullopt;
}

request_error invalid_request(std::string_view message) {
    return request_error{400, error_body(400, message, "invalid_request_error")};
}

}  // namespace

std::optional<request_error> parse_chat_request(std::string_view body, chat_request& out) {
    json j;
    try {
        j = json::parse(body);
    } catch (const json::exception& e) {
        return request_error{500, error_body(500, e.what(), "server_error")};
    }
    if (!j.is_object()) {
        return invalid_request("request body must be a JSON object");
    }
    const auto messages = j.find("messages");
    if (messages == j.end()) {
        return invalid_request("'messages' is required");
    }
    if (!messages->is_array()) {
        return invalid_request("Expected 'messages' to be an array");
    }
    if (messages->empty()) {
        return invalid_request("'messages' must not be empty");
    }
    out = chat_request{};
    for (const json& m : *messages) {
        if (!m.is_object()) {
            return invalid_request("each message must be an object");
        }
        chat_message msg;
        if (const auto role = m.find("role"); role != m.end() && role->is_string()) {
            msg.role = role->get<std::string>();
        }
        if (const auto content = m.find("content"); content != m.end()) {
            msg.text = content_text(*content);
        }
        out.messages.push_back(std::move(msg));
    }
    if (const auto model = j.find("model"); model != j.end() && model->is_string()) {
        out.model = model->get<std::string>();
    }
    if (const auto stream = j.find("stream"); stream != j.end() && stream->is_boolean()) {
        out.stream = stream->get<bool>();
    }
    if (const auto opts = j.find("stream_options"); opts != j.end() && opts->is_object()) {
        const auto usage = opts->find("include_usage");
        out.include_usage = usage != opts->end() && usage->is_boolean() && usage->get<bool>();
    }
    out.max_tokens = token_limit(j);
    if (const auto tools = j.find("tools"); tools != j.end() && tools->is_array()) {
        out.has_tools = !tools->empty();
        if (out.has_tools) {
            const json& first = tools->front();
            const json fn = first.is_object() ? first.value("function", json::object()) : json{};
            if (fn.is_object()) {
                const auto name = fn.find("name");
                if (name != fn.end() && name->is_string()) {
                    out.tool_name = name->get<std::string>();
                }
            }
        }
    }
    return std::nullopt;
}

}  // namespace llmb::mock
