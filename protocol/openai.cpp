#include "protocol/openai.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "protocol/json_text.hpp"

namespace llmb::protocol {

namespace {

// Keeps the key order of what the server sent, so that passed-through JSON reads as it came.
using json = nlohmann::ordered_json;

constexpr std::size_t max_message_bytes = 300;

std::string_view trim(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::string dump(const json& v) {
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// JSON deeper than this is refused before it is parsed: copying and printing a value recurse
// once per level, so a hostile server could otherwise exhaust the stack.
constexpr std::size_t max_json_depth = 128;

// Parses without exceptions; invalid or too deeply nested text gives a discarded value.
json parse_json(std::string_view text) {
    if (json_nested_deeper_than(text, max_json_depth)) {
        return json(json::value_t::discarded);
    }
    return json::parse(text, nullptr, false);
}

// A message fit for an error event: trimmed, control characters replaced by spaces and at most
// max_message_bytes long (cut at a UTF-8 character boundary, marked with "...").
std::string shorten(std::string_view text) {
    text = trim(text);
    std::string out;
    if (text.size() > max_message_bytes) {
        constexpr std::string_view ellipsis = "...";
        std::size_t cut = max_message_bytes - ellipsis.size();
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
            --cut;  // do not split a multi-byte character
        }
        out.assign(text.substr(0, cut));
        out.append(ellipsis);
    } else {
        out.assign(text);
    }
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20U || u == 0x7FU) {
            c = ' ';
        }
    }
    return out;
}

// The message of an error value: {"message":..} (an error object), a string, or its JSON text.
std::string error_text(const json& err) {
    if (err.is_object()) {
        const auto it = err.find("message");
        if (it != err.end() && it->is_string() &&
            !trim(it->get_ref<const std::string&>()).empty()) {
            return shorten(it->get_ref<const std::string&>());
        }
    }
    if (err.is_string()) {
        const auto& s = err.get_ref<const std::string&>();
        if (!trim(s).empty()) {
            return shorten(s);
        }
    }
    return shorten(dump(err));
}

// The message of an error given as text that may hold JSON (old llama.cpp "error:" lines, the
// data of an "event: error").
std::string error_from_text(std::string_view text) {
    if (trim(text).empty()) {
        return "the server reported an error without a message";
    }
    const json v = parse_json(text);
    if (v.is_discarded()) {
        return shorten(text);
    }
    return error_text(v);
}

// The message an HTTP error body gives: {"error":{"message":..}}, {"error":".."},
// {"message":..} or {"detail":..} (FastAPI; when it is not a string, its JSON text). Empty when
// the body says none of these.
std::string body_message(const json& v) {
    if (!v.is_object()) {
        return {};
    }
    const auto string_at = [](const json& obj, const char* key) -> std::string {
        const auto it = obj.find(key);
        if (it != obj.end() && it->is_string()) {
            return shorten(it->get_ref<const std::string&>());
        }
        return {};
    };
    std::string message;
    const auto err = v.find("error");
    if (err != v.end() && err->is_object()) {
        message = string_at(*err, "message");
    }
    if (message.empty()) {
        message = string_at(v, "error");
    }
    if (message.empty()) {
        message = string_at(v, "message");
    }
    if (message.empty()) {
        const auto detail = v.find("detail");
        if (detail != v.end() && !detail->is_null()) {
            message = detail->is_string() ? shorten(detail->get_ref<const std::string&>())
                                          : shorten(dump(*detail));
        }
    }
    return message;
}

// An "error" member or an {"object":"error",...} body (older vLLM), if the object is one.
std::optional<std::string> object_error(const json& obj) {
    const auto it = obj.find("error");
    if (it != obj.end() && !it->is_null()) {
        return error_text(*it);
    }
    const auto kind = obj.find("object");
    if (kind != obj.end() && kind->is_string() && kind->get_ref<const std::string&>() == "error") {
        return error_text(obj);
    }
    return std::nullopt;
}

std::optional<std::uint64_t> read_count(const json& obj, const char* key) {
    const auto it = obj.find(key);
    if (it != obj.end() && it->is_number_unsigned()) {
        return it->get<std::uint64_t>();
    }
    return std::nullopt;
}

// "usage" when it is an object; anything else there is ignored (it is only reported on).
std::optional<token_usage> read_usage(const json& obj) {
    const auto it = obj.find("usage");
    if (it == obj.end() || !it->is_object()) {
        return std::nullopt;
    }
    token_usage u;
    u.prompt_tokens = read_count(*it, "prompt_tokens");
    u.completion_tokens = read_count(*it, "completion_tokens");
    return u;
}

std::string read_model(const json& obj) {
    const auto it = obj.find("model");
    if (it != obj.end() && it->is_string()) {
        return it->get<std::string>();
    }
    return {};
}

// Reads obj[key] as optional text: a string is appended to out, null or absent is nothing.
// Any other type makes the event unreadable: returns false with why set.
bool read_text(const json& obj, const char* key, std::string& out, std::string_view where,
               std::string& why) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return true;
    }
    if (!it->is_string()) {
        why = std::string(where) + "." + key + " is not a string";
        return false;
    }
    out.append(it->get_ref<const std::string&>());
    return true;
}

bool read_reasoning(const json& obj, std::string& out, std::string_view where, std::string& why) {
    if (obj.contains("reasoning_content")) {
        return read_text(obj, "reasoning_content", out, where, why);
    }
    return read_text(obj, "reasoning", out, where, why);
}

// function.arguments as text: servers that send an object get its JSON text.
bool read_arguments(const json& fn, std::string& out, std::string& why) {
    const auto it = fn.find("arguments");
    if (it == fn.end() || it->is_null()) {
        return true;
    }
    if (it->is_string()) {
        out.append(it->get_ref<const std::string&>());
    } else if (it->is_object()) {
        out.append(dump(*it));
    } else {
        why = "tool call arguments are neither a string nor an object";
        return false;
    }
    return true;
}

bool read_tool_call_deltas(const json& calls, std::vector<tool_call_delta>& out, std::string& why) {
    if (!calls.is_array()) {
        why = "choices[0].delta.tool_calls is not an array";
        return false;
    }
    std::uint32_t position = 0;
    for (const auto& call : calls) {
        if (!call.is_object()) {
            why = "a tool call is not an object";
            return false;
        }
        tool_call_delta d;
        d.index = position++;
        const auto index = call.find("index");
        if (index != call.end() && !index->is_null()) {
            if (!index->is_number_unsigned() ||
                index->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
                why = "a tool call index is not a small non-negative integer";
                return false;
            }
            d.index = static_cast<std::uint32_t>(index->get<std::uint64_t>());
        }
        const std::string where = "tool call";
        if (!read_text(call, "id", d.id, where, why) ||
            !read_text(call, "type", d.type, where, why)) {
            return false;
        }
        const auto fn = call.find("function");
        if (fn != call.end() && !fn->is_null()) {
            if (!fn->is_object()) {
                why = "tool call function is not an object";
                return false;
            }
            if (!read_text(*fn, "name", d.name, "tool call function", why) ||
                !read_arguments(*fn, d.arguments, why)) {
                return false;
            }
        }
        out.push_back(std::move(d));
    }
    return true;
}

// The first choice of a response, or null when there is none. Returns false when "choices" is
// there but unreadable.
bool first_choice(const json& obj, const json*& choice, std::string& why) {
    choice = nullptr;
    const auto it = obj.find("choices");
    if (it == obj.end() || it->is_null()) {
        return true;  // vLLM's usage chunk has "choices": null
    }
    if (!it->is_array()) {
        why = "choices is not an array";
        return false;
    }
    if (it->empty()) {
        return true;
    }
    if (!it->front().is_object()) {
        why = "choices[0] is not an object";
        return false;
    }
    choice = &it->front();
    return true;
}

bool read_finish_reason(const json& choice, std::optional<std::string>& out, std::string& why) {
    const auto it = choice.find("finish_reason");
    if (it == choice.end() || it->is_null()) {
        return true;
    }
    if (!it->is_string()) {
        why = "choices[0].finish_reason is not a string";
        return false;
    }
    out = it->get<std::string>();
    return true;
}

bool read_delta(const json& choice, stream_delta& d, std::string& why) {
    if (!read_finish_reason(choice, d.finish_reason, why)) {
        return false;
    }
    const auto delta = choice.find("delta");
    if (delta == choice.end() || delta->is_null()) {
        return true;
    }
    if (!delta->is_object()) {
        why = "choices[0].delta is not an object";
        return false;
    }
    constexpr std::string_view where = "choices[0].delta";
    if (!read_text(*delta, "content", d.content, where, why) ||
        !read_reasoning(*delta, d.reasoning, where, why)) {
        return false;
    }
    const auto calls = delta->find("tool_calls");
    if (calls != delta->end() && !calls->is_null()) {
        return read_tool_call_deltas(*calls, d.tool_calls, why);
    }
    return true;
}

stream_delta decode_event(const sse_event& ev) {
    stream_delta d;
    if (!ev.error.empty()) {
        d.error = error_from_text(ev.error);
        return d;
    }
    if (ev.event == "error") {
        d.error = error_from_text(ev.data);
        return d;
    }
    const std::string_view data = trim(ev.data);
    if (data.empty()) {
        return d;  // nothing to read, nothing to do
    }
    if (data == "[DONE]") {
        d.done = true;
        return d;
    }
    const json v = parse_json(data);
    if (v.is_discarded()) {
        d.malformed = "event data is not valid JSON";
        return d;
    }
    if (!v.is_object()) {
        d.malformed = "event data is not a JSON object";
        return d;
    }
    if (auto err = object_error(v)) {
        d.error = std::move(err);
        return d;
    }
    d.model = read_model(v);
    d.usage = read_usage(v);
    std::string why;
    const json* choice = nullptr;
    if (!first_choice(v, choice, why) || (choice != nullptr && !read_delta(*choice, d, why))) {
        stream_delta bad;
        bad.malformed = std::move(why);
        return bad;
    }
    return d;
}

// message.tool_calls as compact JSON, arguments turned into strings where a server sent
// objects. Empty when there are none.
bool read_whole_tool_calls(const json& message, std::string& out, std::string& why) {
    const auto it = message.find("tool_calls");
    if (it == message.end() || it->is_null()) {
        return true;
    }
    if (!it->is_array()) {
        why = "choices[0].message.tool_calls is not an array";
        return false;
    }
    if (it->empty()) {
        return true;
    }
    json calls = *it;
    for (auto& call : calls) {
        if (!call.is_object()) {
            why = "a tool call is not an object";
            return false;
        }
        const auto fn = call.find("function");
        if (fn == call.end() || !fn->is_object()) {
            why = "a tool call has no function object";
            return false;
        }
        const auto args = fn->find("arguments");
        if (args == fn->end() || args->is_null()) {
            (*fn)["arguments"] = "";
        } else if (!args->is_string()) {
            *args = dump(*args);
        }
    }
    out = dump(calls);
    return true;
}

whole_response decode_whole(std::string_view body) {
    whole_response r;
    const json v = parse_json(body);
    if (v.is_discarded()) {
        r.malformed = "response body is not valid JSON";
        return r;
    }
    if (!v.is_object()) {
        r.malformed = "response body is not a JSON object";
        return r;
    }
    if (auto err = object_error(v)) {
        r.error = std::move(err);
        return r;
    }
    r.model = read_model(v);
    r.usage = read_usage(v);
    std::string why;
    const json* choice = nullptr;
    if (!first_choice(v, choice, why)) {
        r.malformed = std::move(why);
        return r;
    }
    if (choice == nullptr) {
        r.malformed = "response has no choices";
        return r;
    }
    std::optional<std::string> finish;
    const auto message = choice->find("message");
    if (message == choice->end() || !message->is_object()) {
        r.malformed = "choices[0].message is not an object";
        return r;
    }
    constexpr std::string_view where = "choices[0].message";
    if (!read_finish_reason(*choice, finish, why) ||
        !read_text(*message, "content", r.content, where, why) ||
        !read_reasoning(*message, r.reasoning, where, why) ||
        !read_whole_tool_calls(*message, r.tool_calls_json, why)) {
        whole_response bad;
        bad.malformed = std::move(why);
        return bad;
    }
    r.finish_reason = finish.value_or("");
    return r;
}

}  // namespace

stream_delta decode_stream_event(const sse_event& ev) {
    try {
        return decode_event(ev);
    } catch (const std::exception& e) {
        stream_delta d;
        d.malformed = std::string("event could not be decoded: ") + e.what();
        return d;
    }
}

void tool_call_accumulator::add(const std::vector<tool_call_delta>& deltas) {
    for (const auto& d : deltas) {
        auto it = std::lower_bound(calls_.begin(), calls_.end(), d.index,
                                   [](const call& c, std::uint32_t i) { return c.index < i; });
        if (it == calls_.end() || it->index != d.index) {
            it = calls_.insert(it, call{d.index, {}, {}, {}, {}});
        }
        if (it->id.empty()) {
            it->id = d.id;
        }
        if (it->type.empty()) {
            it->type = d.type;
        }
        if (it->name.empty()) {
            it->name = d.name;
        }
        it->arguments.append(d.arguments);
    }
}

std::string tool_call_accumulator::to_json() const {
    json out = json::array();
    for (const auto& c : calls_) {
        json fn = json::object();
        fn["name"] = c.name;
        fn["arguments"] = c.arguments;
        json entry = json::object();
        entry["id"] = c.id;
        entry["type"] = c.type.empty() ? std::string("function") : c.type;
        entry["function"] = std::move(fn);
        out.push_back(std::move(entry));
    }
    return dump(out);
}

whole_response decode_whole_response(std::string_view body) {
    try {
        return decode_whole(body);
    } catch (const std::exception& e) {
        whole_response r;
        r.malformed = std::string("response could not be decoded: ") + e.what();
        return r;
    }
}

std::string decode_error_body(long http_status, std::string_view body) {
    const std::string status_text = "HTTP " + std::to_string(http_status);
    const std::string_view text = trim(body);
    if (text.empty()) {
        return status_text;
    }
    try {
        const json v = parse_json(text);
        if (const std::string message = body_message(v); !message.empty()) {
            return message;
        }
    } catch (const std::exception&) {
        // fall back to the text of the body
    }
    return shorten(text);
}

}  // namespace llmb::protocol
