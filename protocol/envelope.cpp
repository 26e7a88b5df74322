#include "protocol/envelope.hpp"

#include <charconv>
#include <cmath>

#include "protocol/json_text.hpp"

namespace llmb::protocol {

namespace {

// Bytes of the literal parts of an event head: {"id":  ,"seq":  ,"type":"  "
constexpr std::string_view head_id = "{\"id\":";
constexpr std::string_view head_seq = ",\"seq\":";
constexpr std::string_view head_type = ",\"type\":\"";

// Room for the fixed parts of an event beyond its strings; reserving it avoids regrowth.
constexpr std::size_t reserve_slack = 96;

void append_uint(std::string& out, std::uint64_t v) {
    char buf[20];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// A finite double rounded to two decimals without trailing zeros ("48.8", "50"); null otherwise.
void append_number(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out.append("null");
        return;
    }
    char buf[400];  // DBL_MAX in fixed notation with two decimals takes 313 characters
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 2);
    std::string_view s(buf, static_cast<std::size_t>(r.ptr - buf));
    while (s.back() == '0') {
        s.remove_suffix(1);
    }
    if (s.back() == '.') {
        s.remove_suffix(1);
    }
    if (s == "-0") {
        s = "0";
    }
    out.append(s);
}

void append_bool(std::string& out, bool v) {
    out.append(v ? "true" : "false");
}

// {"id":<id>,"seq":<seq>,"type":"<type>"
void append_head(std::string& out, std::string_view id, std::uint64_t seq, std::string_view type) {
    out.append(head_id);
    append_json_string(out, id);
    out.append(head_seq);
    append_uint(out, seq);
    out.append(head_type);
    out.append(type);
    out.push_back('"');
}

// ,"<key>":
void append_key(std::string& out, std::string_view key) {
    out.push_back(',');
    out.push_back('"');
    out.append(key);
    out.append("\":");
}

// Sizes of what append_head and append_key write.
std::size_t head_size(std::string_view id, std::uint64_t seq, std::string_view type) noexcept {
    return head_id.size() + json_string_size(id) + head_seq.size() + decimal_digits(seq) +
           head_type.size() + type.size() + 1;
}

std::size_t key_size(std::string_view key) noexcept {
    return key.size() + 4;
}

std::string_view text_key(bool reasoning) noexcept {
    return reasoning ? "reasoning" : "text";
}

std::string start_event(std::string_view id, std::uint64_t seq, std::string_view type,
                        std::size_t extra) {
    std::string out;
    out.reserve(reserve_slack + id.size() + extra);
    append_head(out, id, seq, type);
    return out;
}

}  // namespace

std::string encode_start(std::string_view id, std::uint64_t seq, std::string_view model,
                         bool whole_mode, const std::optional<std::string>& session,
                         std::string_view bridge) {
    std::string out = start_event(id, seq, "start", model.size() + (session ? session->size() : 0));
    append_key(out, "model");
    append_json_string(out, model);
    append_key(out, "mode");
    out.append(whole_mode ? "\"whole\"" : "\"stream\"");
    if (session) {
        append_key(out, "session");
        append_json_string(out, *session);
    }
    if (!bridge.empty()) {
        append_key(out, "bridge");
        append_json_string(out, bridge);
    }
    out.push_back('}');
    return out;
}

// {"id","seq","type":"status","status":status[,count_key:count]}
static std::string status_event(std::string_view id, std::uint64_t seq, std::string_view status,
                                std::string_view count_key = {}, std::uint64_t count = 0) {
    std::string out = start_event(id, seq, "status", 0);
    append_key(out, "status");
    append_json_string(out, status);
    if (!count_key.empty()) {
        append_key(out, count_key);
        append_uint(out, count);
    }
    out.push_back('}');
    return out;
}

std::string encode_status_queued(std::string_view id, std::uint64_t seq, std::uint64_t position) {
    return status_event(id, seq, "queued", "position", position);
}

std::string encode_status_generating(std::string_view id, std::uint64_t seq) {
    return status_event(id, seq, "generating");
}

std::string encode_status_trimmed(std::string_view id, std::uint64_t seq, std::uint64_t dropped) {
    return status_event(id, seq, "trimmed", "dropped", dropped);
}

std::string encode_chunk(std::string_view id, std::uint64_t seq, std::string_view text,
                         bool reasoning) {
    std::string out = start_event(id, seq, "chunk", text.size() + text.size() / 8);
    append_key(out, text_key(reasoning));
    append_json_string(out, text);
    out.push_back('}');
    return out;
}

std::string encode_tool_calls(std::string_view id, std::uint64_t seq,
                              std::string_view tool_calls_json) {
    std::string out = start_event(id, seq, "tool_calls", tool_calls_json.size());
    append_key(out, "tool_calls");
    out.append(tool_calls_json.empty() ? std::string_view("[]") : tool_calls_json);
    out.push_back('}');
    return out;
}

std::string encode_done(std::string_view id, std::uint64_t seq, const done_info& info) {
    std::string out = start_event(id, seq, "done", info.finish_reason.size() + 128);
    append_key(out, "finish_reason");
    append_json_string(out, info.finish_reason);
    append_key(out, "usage");
    if (info.usage) {
        out.push_back('{');
        bool first = true;
        const auto field = [&](std::string_view key, const std::optional<std::uint64_t>& v) {
            if (!v) {
                return;
            }
            if (!first) {
                out.push_back(',');
            }
            first = false;
            out.push_back('"');
            out.append(key);
            out.append("\":");
            append_uint(out, *v);
        };
        field("prompt_tokens", info.usage->prompt_tokens);
        field("completion_tokens", info.usage->completion_tokens);
        out.push_back('}');
    } else {
        out.append("null");
    }
    append_key(out, "chunks");
    append_uint(out, info.chunks);
    append_key(out, "bytes");
    append_uint(out, info.bytes);
    append_key(out, "duration_ms");
    append_uint(out, info.duration_ms);
    append_key(out, "ttft_ms");
    if (info.ttft_ms) {
        append_uint(out, *info.ttft_ms);
    } else {
        out.append("null");
    }
    append_key(out, "tokens_per_second");
    if (info.tokens_per_second) {
        append_number(out, *info.tokens_per_second);
    } else {
        out.append("null");
    }
    out.push_back('}');
    return out;
}

std::string encode_error(std::string_view id, std::uint64_t seq, const error& err) {
    const std::string_view code = to_string(err.code);
    std::string out = start_event(id, seq, "error", code.size() + err.message.size());
    append_key(out, "code");
    append_json_string(out, code);
    append_key(out, "message");
    append_json_string(out, err.message);
    append_key(out, "retryable");
    append_bool(out, is_retryable(err));
    if (err.retry_after_ms) {
        append_key(out, "retry_after_ms");
        append_uint(out, *err.retry_after_ms);
    }
    out.push_back('}');
    return out;
}

std::string encode_session(std::string_view id, std::uint64_t seq, bool ok,
                           std::string_view session,
                           const std::optional<std::vector<session_message>>& messages) {
    std::size_t extra = session.size();
    if (messages) {
        for (const auto& m : *messages) {
            extra += m.role.size() + m.content.size() + 32;
        }
    }
    std::string out = start_event(id, seq, "session", extra);
    append_key(out, "ok");
    append_bool(out, ok);
    append_key(out, "session");
    append_json_string(out, session);
    if (messages) {
        append_key(out, "messages");
        out.push_back('[');
        bool first = true;
        for (const auto& m : *messages) {
            if (!first) {
                out.push_back(',');
            }
            first = false;
            out.append("{\"role\":");
            append_json_string(out, m.role);
            append_key(out, "content");
            append_json_string(out, m.content);
            out.push_back('}');
        }
        out.push_back(']');
    }
    out.push_back('}');
    return out;
}

std::string encode_frag(std::string_view id, std::uint64_t seq, std::string_view of,
                        std::uint64_t part, std::uint64_t parts, std::string_view data) {
    std::string out = start_event(id, seq, "frag", of.size() + data.size() + data.size() / 8);
    append_key(out, "of");
    append_json_string(out, of);
    append_key(out, "part");
    append_uint(out, part);
    append_key(out, "parts");
    append_uint(out, parts);
    append_key(out, "data");
    append_json_string(out, data);
    out.push_back('}');
    return out;
}

std::size_t chunk_overhead(std::string_view id, std::uint64_t seq, bool reasoning) noexcept {
    // {"id":<id>,"seq":<seq>,"type":"chunk","<key>":""}
    return head_size(id, seq, "chunk") + key_size(text_key(reasoning)) + 2 + 1;
}

std::size_t frag_overhead(std::string_view id, std::uint64_t seq, std::string_view of,
                          std::uint64_t part, std::uint64_t parts) noexcept {
    // {"id":<id>,"seq":<seq>,"type":"frag","of":<of>,"part":<part>,"parts":<parts>,"data":""}
    return head_size(id, seq, "frag") + key_size("of") + json_string_size(of) + key_size("part") +
           decimal_digits(part) + key_size("parts") + decimal_digits(parts) + key_size("data") + 2 +
           1;
}

}  // namespace llmb::protocol
