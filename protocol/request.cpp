// Decoding and validation of device requests.
//
// Rules of a request payload (llm/request/{client}), checked in this order; the first rule
// broken is the answer. Until a valid "id" has been read, errors are reported under the
// generated id; after that, under the request's own id.
//   1. More than limits.max_request_bytes bytes: too_large (checked before anything is parsed).
//   2. Not valid UTF-8, not valid JSON, nested deeper than max_depth levels, or JSON that is
//      not an object: bad_request.
//   3. A field whose value is null counts as absent (clients that write unset options as null
//      work unchanged). Unknown fields are ignored.
//   4. "id" (optional): a string matching [A-Za-z0-9_.-]{1,64}; generated when absent. An
//      invalid id is a bad_request reported under the generated id, since it cannot be used in
//      a topic.
//   5. Exactly one of "messages" and "prompt" (neither or both: bad_request).
//      "prompt": a non-empty string, sent as one {"role":"user","content":prompt} message.
//      "messages": a non-empty array of at most limits.max_messages entries (more: too_large).
//      Each entry is an object whose
//        - "role" is "system", "user", "assistant" or "tool";
//        - "content" is a string, an array of content parts, or null/absent (only for a tool
//          message or an assistant message with "tool_calls"). A content part is an object
//          with a non-empty string "type"; a "text" part needs a string "text". The texts of
//          the text parts, joined with '\n', become chat_message::content;
//        - "tool_call_id" is a string when the role is "tool";
//        - "tool_calls", for an assistant, is an array of objects.
//      At least one message has non-empty text, a non-text content part or tool calls. Each
//      message object is passed upstream as it came (compact JSON).
//   6. "session" (optional): a string matching [A-Za-z0-9_.-]{1,64}.
//   7. "model" (optional): a non-empty string of at most max_model_bytes bytes without control
//      characters.
//   8. "temperature": a number in [0, 2]; "top_p": a number in [0, 1].
//   9. "max_tokens": an integer >= 1 (else bad_request) and <= limits.max_tokens (else
//      too_large).
//  10. "stop": a non-empty string or an array of at most limits.max_stop non-empty strings.
//  11. "seed": an integer that fits in 64 bits, signed.
//  12. "tools": an array of {"type":"function","function":{"name":<non-empty string>,...}}; an
//      empty array means no tools. "tool_choice": "auto", "none", "required" or an object.
//  13. "stream": a boolean.
//  14. "max_packet": an integer in [limits.min_packet, 268435455] (the largest MQTT packet).
//  15. "flush_ms": an integer in [0, limits.max_flush_ms].
// A value of the wrong JSON type ("temperature":"0.5", "stream":"yes") is a bad_request. An
// "integer" is any JSON number with an integral value (256 and 256.0 alike; 1.5 is not).
//
// A cancel payload (llm/cancel/{client}) is a JSON object with a valid "id", at most
// max_cancel_bytes long; anything else is a bad_request (same UTF-8, JSON and nesting rules).
//
// Neither decoder throws: every failure, including ones inside the JSON library, becomes an
// error value.

#include "protocol/request.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "protocol/json_text.hpp"

namespace llmb::protocol {

namespace {

using json = nlohmann::json;

constexpr std::size_t max_depth = 64;  // nesting of arrays and objects
constexpr std::size_t max_model_bytes = 256;
constexpr std::uint32_t max_mqtt_packet = 268435455;  // largest packet MQTT can express
constexpr std::size_t max_cancel_bytes = 64 * 1024;

constexpr std::string_view name_rule = "a string of 1 to 64 characters from A-Z a-z 0-9 _ . -";

// A broken rule, thrown inside the decoders and turned into an error value at their boundary.
struct invalid {
    error_code code;
    std::string message;
};

[[noreturn]] void fail(std::string message) {
    throw invalid{error_code::bad_request, std::move(message)};
}

[[noreturn]] void fail_too_large(std::string message) {
    throw invalid{error_code::too_large, std::move(message)};
}

std::string named(std::string_view name) {
    return '"' + std::string(name) + '"';
}

std::string indexed(std::string_view name, std::size_t i) {
    return std::string(name) + '[' + std::to_string(i) + ']';
}

// "a string", "an object", ..., "null": what a JSON value is, for messages.
std::string type_name(const json& v) {
    if (v.is_null()) {
        return "null";
    }
    return (v.is_object() || v.is_array() ? "an " : "a ") + std::string(v.type_name());
}

// ", not a string" when v has the wrong type, "" when only its value is wrong.
std::string not_type(const json& v, bool type_ok) {
    return type_ok ? std::string() : ", not " + type_name(v);
}

// The value of key in obj, or nullptr when it is absent or null.
const json* field(const json& obj, const char* key) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return nullptr;
    }
    return &*it;
}

// Where the first invalid UTF-8 sequence of s starts, or npos.
std::size_t invalid_utf8_at(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto n = utf8_sequence_length(s.substr(i));
        if (n == 0) {
            return i;
        }
        i += n;
    }
    return std::string_view::npos;
}

// Parses a payload that must be one JSON object; what names it in messages ("request").
json parse_object(std::string_view payload, std::string_view what) {
    const auto bad_byte = invalid_utf8_at(payload);
    if (bad_byte != std::string_view::npos) {
        fail(std::string(what) + " is not valid UTF-8 (at byte " + std::to_string(bad_byte + 1) +
             ")");
    }
    if (json_nested_deeper_than(payload, max_depth)) {
        fail(std::string(what) + " is nested deeper than " + std::to_string(max_depth) +
             " levels of arrays and objects");
    }
    json doc;
    try {
        doc = json::parse(payload.begin(), payload.end());
    } catch (const json::parse_error& e) {
        fail(std::string(what) + " is not valid JSON (syntax error at byte " +
             std::to_string(e.byte) + ")");
    }
    if (!doc.is_object()) {
        fail(std::string(what) + " must be a JSON object, not " + type_name(doc));
    }
    return doc;
}

// The value of v when it is a JSON number with an integral value.
std::optional<double> integral_value(const json& v) {
    if (v.is_number_unsigned()) {
        return static_cast<double>(v.get<std::uint64_t>());
    }
    if (v.is_number_integer()) {
        return static_cast<double>(v.get<std::int64_t>());
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && std::floor(d) == d) {
            return d;
        }
    }
    return std::nullopt;
}

// An integer in [lo, hi].
std::optional<std::uint32_t> uint_field(const json& obj, const char* key, std::uint32_t lo,
                                        std::uint32_t hi) {
    const json* v = field(obj, key);
    if (v == nullptr) {
        return std::nullopt;
    }
    const auto d = integral_value(*v);
    if (!d || *d < lo || *d > hi) {
        fail(named(key) + " must be an integer between " + std::to_string(lo) + " and " +
             std::to_string(hi) + not_type(*v, v->is_number()));
    }
    return static_cast<std::uint32_t>(*d);
}

std::optional<double> number_field(const json& obj, const char* key, double lo, double hi,
                                   std::string_view range) {
    const json* v = field(obj, key);
    if (v == nullptr) {
        return std::nullopt;
    }
    const double d = v->is_number() ? v->get<double>() : std::nan("");
    if (!(d >= lo && d <= hi)) {
        fail(named(key) + " must be a number between " + std::string(range) +
             not_type(*v, v->is_number()));
    }
    return d;
}

std::optional<std::string> name_field(const json& obj, const char* key) {
    const json* v = field(obj, key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_string() || !valid_name(v->get_ref<const std::string&>())) {
        fail(named(key) + " must be " + std::string(name_rule) + not_type(*v, v->is_string()));
    }
    return v->get<std::string>();
}

// ---- messages ----

bool known_role(std::string_view role) noexcept {
    return role == "system" || role == "user" || role == "assistant" || role == "tool";
}

struct decoded_content {
    std::string text;
    bool has_non_text = false;  // a content part other than text (an image, ...)
};

decoded_content decode_parts(const json& parts, const std::string& path) {
    decoded_content out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const json& part = parts[i];
        const auto part_path = indexed(path, i);
        if (!part.is_object()) {
            fail(named(part_path) + " must be a content part object, not " + type_name(part));
        }
        const json* type = field(part, "type");
        if (type == nullptr || !type->is_string() || type->get_ref<const std::string&>().empty()) {
            fail(named(part_path + ".type") + " must be a non-empty string");
        }
        if (type->get_ref<const std::string&>() != "text") {
            out.has_non_text = true;
            continue;
        }
        const json* text = field(part, "text");
        if (text == nullptr || !text->is_string()) {
            fail(named(part_path + ".text") + " must be a string in a text part");
        }
        if (!out.text.empty()) {
            out.text += '\n';
        }
        out.text += text->get_ref<const std::string&>();
    }
    return out;
}

// Decodes messages[i]; has_content is set when the message carries anything to answer.
chat_message decode_message(const json& m, std::size_t i, bool& has_content) {
    const auto path = indexed("messages", i);
    if (!m.is_object()) {
        fail(named(path) + " must be a message object, not " + type_name(m));
    }
    chat_message out;
    const json* role = field(m, "role");
    if (role == nullptr || !role->is_string() || !known_role(role->get_ref<const std::string&>())) {
        fail(named(path + ".role") + R"( must be "system", "user", "assistant" or "tool")");
    }
    out.role = role->get<std::string>();

    bool has_tool_calls = false;
    if (out.role == "assistant") {
        if (const json* calls = field(m, "tool_calls")) {
            if (!calls->is_array()) {
                fail(named(path + ".tool_calls") + " must be an array, not " + type_name(*calls));
            }
            for (std::size_t c = 0; c < calls->size(); ++c) {
                if (!(*calls)[c].is_object()) {
                    fail(named(indexed(path + ".tool_calls", c)) + " must be an object");
                }
            }
            has_tool_calls = !calls->empty();
        }
    }
    if (out.role == "tool") {
        const json* call_id = field(m, "tool_call_id");
        if (call_id == nullptr || !call_id->is_string()) {
            fail(named(path + ".tool_call_id") + " must be a string in a tool message");
        }
    }

    const json* content = field(m, "content");
    bool has_non_text = false;
    if (content == nullptr) {
        if (out.role != "tool" && !has_tool_calls) {
            fail(named(path + ".content") +
                 " is required (it may be null only in a tool message or an assistant message "
                 "with tool_calls)");
        }
    } else if (content->is_string()) {
        out.content = content->get<std::string>();
    } else if (content->is_array()) {
        auto parts = decode_parts(*content, path + ".content");
        out.content = std::move(parts.text);
        has_non_text = parts.has_non_text;
    } else {
        fail(named(path + ".content") + " must be a string, an array of content parts or null, " +
             "not " + type_name(*content));
    }
    has_content = has_content || !out.content.empty() || has_non_text || has_tool_calls;
    out.raw_json = m.dump();
    return out;
}

std::vector<chat_message> decode_messages(const json& obj, const request_limits& limits) {
    const json* messages = field(obj, "messages");
    const json* prompt = field(obj, "prompt");
    if (messages != nullptr && prompt != nullptr) {
        fail(R"(the request has both "messages" and "prompt": send only one of them)");
    }
    if (messages == nullptr && prompt == nullptr) {
        fail(R"(the request needs "messages" (an array of chat messages) or "prompt" (a string))");
    }
    std::vector<chat_message> out;
    if (prompt != nullptr) {
        if (!prompt->is_string() || prompt->get_ref<const std::string&>().empty()) {
            fail(R"("prompt" must be a non-empty string)" + not_type(*prompt, prompt->is_string()));
        }
        out.push_back(chat_message{"user", prompt->get<std::string>(),
                                   R"({"role":"user","content":)" + prompt->dump() + "}"});
        return out;
    }
    if (!messages->is_array()) {
        fail(R"("messages" must be an array of message objects, not )" + type_name(*messages));
    }
    if (messages->empty()) {
        fail(R"("messages" must not be empty)");
    }
    if (messages->size() > limits.max_messages) {
        fail_too_large(R"("messages" has )" + std::to_string(messages->size()) +
                       " entries, more than the limit of " + std::to_string(limits.max_messages));
    }
    out.reserve(messages->size());
    bool has_content = false;
    for (std::size_t i = 0; i < messages->size(); ++i) {
        out.push_back(decode_message((*messages)[i], i, has_content));
    }
    if (!has_content) {
        fail(R"("messages" has nothing to answer: every message has empty "content" and no )"
             R"("tool_calls")");
    }
    return out;
}

// ---- other fields ----

std::optional<std::string> decode_model(const json& obj) {
    const json* v = field(obj, "model");
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
        fail(R"("model" must be a non-empty string)" + not_type(*v, v->is_string()));
    }
    const auto& model = v->get_ref<const std::string&>();
    if (model.size() > max_model_bytes) {
        fail(R"("model" is longer than )" + std::to_string(max_model_bytes) + " bytes");
    }
    for (const char c : model) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7f) {
            fail(R"("model" must not contain control characters)");
        }
    }
    return model;
}

std::optional<std::uint32_t> decode_max_tokens(const json& obj, const request_limits& limits) {
    const json* v = field(obj, "max_tokens");
    if (v == nullptr) {
        return std::nullopt;
    }
    const auto d = integral_value(*v);
    if (!d || *d < 1) {
        fail(R"("max_tokens" must be an integer of at least 1)" + not_type(*v, v->is_number()));
    }
    if (*d > limits.max_tokens) {
        fail_too_large(R"("max_tokens" is )" + v->dump() + ", more than the limit of " +
                       std::to_string(limits.max_tokens));
    }
    return static_cast<std::uint32_t>(*d);
}

std::vector<std::string> decode_stop(const json& obj, const request_limits& limits) {
    const json* v = field(obj, "stop");
    if (v == nullptr) {
        return {};
    }
    if (v->is_string()) {
        if (v->get_ref<const std::string&>().empty()) {
            fail(R"("stop" must not be an empty string)");
        }
        return {v->get<std::string>()};
    }
    if (!v->is_array()) {
        fail(R"("stop" must be a string or an array of strings, not )" + type_name(*v));
    }
    if (v->size() > limits.max_stop) {
        fail(R"("stop" has )" + std::to_string(v->size()) + " strings, more than the limit of " +
             std::to_string(limits.max_stop));
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
        const json& s = (*v)[i];
        if (!s.is_string() || s.get_ref<const std::string&>().empty()) {
            fail(named(indexed("stop", i)) + " must be a non-empty string" +
                 not_type(s, s.is_string()));
        }
        out.push_back(s.get<std::string>());
    }
    return out;
}

std::optional<std::int64_t> decode_seed(const json& obj) {
    const json* v = field(obj, "seed");
    if (v == nullptr) {
        return std::nullopt;
    }
    if (v->is_number_unsigned()) {
        const auto u = v->get<std::uint64_t>();
        if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return static_cast<std::int64_t>(u);
        }
    } else if (v->is_number_integer()) {
        return v->get<std::int64_t>();
    } else if (v->is_number_float()) {
        // [-2^63, 2^63): every integral double in it converts exactly.
        const double d = v->get<double>();
        if (std::floor(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            return static_cast<std::int64_t>(d);
        }
    }
    fail(R"("seed" must be an integer that fits in 64 bits (signed))" +
         not_type(*v, v->is_number()));
}

std::string decode_tools(const json& obj) {
    const json* v = field(obj, "tools");
    if (v == nullptr) {
        return {};
    }
    if (!v->is_array()) {
        fail(R"("tools" must be an array of tool objects, not )" + type_name(*v));
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
        const json& tool = (*v)[i];
        const auto path = indexed("tools", i);
        if (!tool.is_object()) {
            fail(named(path) + " must be a tool object, not " + type_name(tool));
        }
        const json* type = field(tool, "type");
        if (type == nullptr || !type->is_string() || *type != "function") {
            fail(named(path + ".type") + R"( must be "function")");
        }
        const json* function = field(tool, "function");
        if (function == nullptr || !function->is_object()) {
            fail(named(path + ".function") + " must be an object with a \"name\"");
        }
        const json* name = field(*function, "name");
        if (name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty()) {
            fail(named(path + ".function.name") + " must be a non-empty string");
        }
    }
    return v->empty() ? std::string() : v->dump();
}

std::string decode_tool_choice(const json& obj) {
    const json* v = field(obj, "tool_choice");
    if (v == nullptr) {
        return {};
    }
    const bool ok =
        v->is_object() || (v->is_string() && (*v == "auto" || *v == "none" || *v == "required"));
    if (!ok) {
        fail(R"("tool_choice" must be "auto", "none", "required" or an object)");
    }
    return v->dump();
}

bool decode_stream(const json& obj) {
    const json* v = field(obj, "stream");
    if (v == nullptr) {
        return true;
    }
    if (!v->is_boolean()) {
        fail(R"("stream" must be true or false, not )" + type_name(*v));
    }
    return v->get<bool>();
}

request decode_fields(const json& obj, const request_limits& limits) {
    request req;
    req.messages = decode_messages(obj, limits);
    req.session = name_field(obj, "session");
    req.model = decode_model(obj);
    req.temperature = number_field(obj, "temperature", 0.0, 2.0, "0 and 2");
    req.top_p = number_field(obj, "top_p", 0.0, 1.0, "0 and 1");
    req.max_tokens = decode_max_tokens(obj, limits);
    req.stop = decode_stop(obj, limits);
    req.seed = decode_seed(obj);
    req.tools_json = decode_tools(obj);
    req.tool_choice_json = decode_tool_choice(obj);
    req.stream = decode_stream(obj);
    req.max_packet = uint_field(obj, "max_packet", limits.min_packet, max_mqtt_packet);
    req.flush_ms = uint_field(obj, "flush_ms", 0, limits.max_flush_ms).value_or(0);
    return req;
}

}  // namespace

bool valid_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 64) {
        return false;
    }
    for (const char c : s) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

decoded_request decode_request(std::string_view payload, const request_limits& limits,
                               std::string_view generated_id) {
    decoded_request out;
    try {
        out.id = generated_id;
        out.id_generated = true;
        if (payload.size() > limits.max_request_bytes) {
            fail_too_large("the request is " + std::to_string(payload.size()) +
                           " bytes, more than the limit of " +
                           std::to_string(limits.max_request_bytes) + " bytes");
        }
        const json obj = parse_object(payload, "the request");
        if (auto id = name_field(obj, "id")) {
            out.id = std::move(*id);
            out.id_generated = false;
        }
        request req = decode_fields(obj, limits);
        req.id = out.id;
        req.id_generated = out.id_generated;
        out.req = std::move(req);
    } catch (invalid& e) {
        out.err = error{e.code, std::move(e.message), std::nullopt};
    } catch (...) {
        out.err = error{error_code::bad_request, "the request could not be read", std::nullopt};
    }
    if (out.err) {
        out.req.reset();
    }
    return out;
}

decoded_cancel decode_cancel(std::string_view payload) {
    decoded_cancel out;
    try {
        if (payload.size() > max_cancel_bytes) {
            fail("the cancel is " + std::to_string(payload.size()) +
                 R"( bytes; a cancel is {"id":"<request id>"} and at most )" +
                 std::to_string(max_cancel_bytes) + " bytes");
        }
        const json obj = parse_object(payload, "the cancel");
        auto id = name_field(obj, "id");
        if (!id) {
            fail(R"(the cancel needs "id": the id of the request to stop)");
        }
        out.id = std::move(*id);
    } catch (invalid& e) {
        out.err = error{e.code, std::move(e.message), std::nullopt};
    } catch (...) {
        out.err = error{error_code::bad_request, "the cancel could not be read", std::nullopt};
    }
    if (out.err) {
        out.id.reset();
    }
    return out;
}

}  // namespace llmb::protocol
