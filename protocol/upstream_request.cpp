#include "protocol/upstream_request.hpp"

#include <charconv>
#include <system_error>

#include "protocol/json_text.hpp"

namespace llmb::protocol {

namespace {

// Writes the members of one JSON object, commas and keys included. Values are either written
// by the caller right after key() or spliced in as ready JSON text.
class object_writer {
public:
    explicit object_writer(std::string& out) : out_(out) { out_ += '{'; }

    // Starts a member; its value must be appended next.
    std::string& key(std::string_view name) {
        if (!first_) {
            out_ += ',';
        }
        first_ = false;
        append_json_string(out_, name);
        out_ += ':';
        return out_;
    }

    void raw(std::string_view name, std::string_view json) { key(name) += json; }
    void string(std::string_view name, std::string_view value) {
        append_json_string(key(name), value);
    }
    void boolean(std::string_view name, bool value) { key(name) += value ? "true" : "false"; }
    template <typename Number>
    void number(std::string_view name, Number value) {
        append_number(key(name), value);
    }

    void close() { out_ += '}'; }

    // Shortest text that reads back as the same value (integers without a fraction).
    template <typename Number>
    static void append_number(std::string& out, Number value) {
        char buf[32];
        const auto res = std::to_chars(buf, buf + sizeof buf, value);
        if (res.ec == std::errc()) {
            out.append(buf, res.ptr);
        } else {
            out += '0';  // cannot happen with a 32-byte buffer
        }
    }

private:
    std::string& out_;
    bool first_ = true;
};

}  // namespace

std::string encode_chat_completion(const request& req, const upstream_options& opts) {
    std::string out;
    std::size_t size = 128 + req.tools_json.size() + req.tool_choice_json.size();
    for (const auto& m : req.messages) {
        size += m.raw_json.size() + 1;
    }
    out.reserve(size);

    object_writer body(out);
    auto& messages = body.key("messages");
    messages += '[';
    for (std::size_t i = 0; i < req.messages.size(); ++i) {
        if (i > 0) {
            messages += ',';
        }
        messages += req.messages[i].raw_json;
    }
    messages += ']';

    if (!opts.model.empty()) {
        body.string("model", opts.model);
    }
    body.boolean("stream", opts.stream);
    if (opts.stream) {
        body.raw("stream_options", R"({"include_usage":true})");
    }

    // Sampling: only what the request set, so that the server's own defaults apply otherwise.
    if (req.temperature) {
        body.number("temperature", *req.temperature);
    }
    if (req.top_p) {
        body.number("top_p", *req.top_p);
    }
    if (req.max_tokens) {
        body.number("max_tokens", *req.max_tokens);
    }
    if (!req.stop.empty()) {
        auto& stop = body.key("stop");
        stop += '[';
        for (std::size_t i = 0; i < req.stop.size(); ++i) {
            if (i > 0) {
                stop += ',';
            }
            append_json_string(stop, req.stop[i]);
        }
        stop += ']';
    }
    if (req.seed) {
        body.number("seed", *req.seed);
    }

    if (!req.tools_json.empty()) {
        body.raw("tools", req.tools_json);
    }
    if (!req.tool_choice_json.empty()) {
        body.raw("tool_choice", req.tool_choice_json);
    }
    if (opts.enable_thinking) {
        body.raw("chat_template_kwargs", *opts.enable_thinking ? R"({"enable_thinking":true})"
                                                               : R"({"enable_thinking":false})");
    }
    if (!opts.lora_json.empty()) {
        body.raw("lora", opts.lora_json);
    }
    body.close();
    return out;
}

}  // namespace llmb::protocol
