#include "completion_format.hpp"

#include <array>
#include <charconv>

#include "http_response.hpp"
#include "protocol/json_text.hpp"

namespace llmb::mock {

namespace {

constexpr std::string_view fingerprint = "mock";

void append_double(std::string& out, double v) {
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    const std::string_view text(buf.data(), static_cast<std::size_t>(end - buf.data()));
    out += text;
    if (text.find_first_of(".e") == std::string_view::npos) {
        out += ".0";  // stays a float for readers that care, as llama-server's are
    }
}

void append_timings(std::string& out, const timings& t) {
    const auto per_token = [](double ms, std::size_t n) {
        return n == 0 ? 0.0 : ms / static_cast<double>(n);
    };
    const auto per_second = [](double ms, std::size_t n) {
        return ms <= 0 ? 0.0 : 1e3 * static_cast<double>(n) / ms;
    };
    out += R"("timings":{"cache_n":0,"prompt_n":)";
    append_uint(out, t.prompt_n);
    out += R"(,"prompt_ms":)";
    append_double(out, t.prompt_ms);
    out += R"(,"prompt_per_token_ms":)";
    append_double(out, per_token(t.prompt_ms, t.prompt_n));
    out += R"(,"prompt_per_second":)";
    append_double(out, per_second(t.prompt_ms, t.prompt_n));
    out += R"(,"predicted_n":)";
    append_uint(out, t.predicted_n);
    out += R"(,"predicted_ms":)";
    append_double(out, t.predicted_ms);
    out += R"(,"predicted_per_token_ms":)";
    append_double(out, per_token(t.predicted_ms, t.predicted_n));
    out += R"(,"predicted_per_second":)";
    append_double(out, per_second(t.predicted_ms, t.predicted_n));
    out += '}';
}

void append_usage(std::string& out, const usage_counts& u) {
    out += R"("usage":{"completion_tokens":)";
    append_uint(out, u.completion_tokens);
    out += R"(,"prompt_tokens":)";
    append_uint(out, u.prompt_tokens);
    out += R"(,"total_tokens":)";
    append_uint(out, u.completion_tokens + u.prompt_tokens);
    out += R"(,"prompt_tokens_details":{"cached_tokens":0}})";
}

// s as the inside of a JSON string (no quotes).
void append_json_chars(std::string& out, std::string_view s) {
    const std::size_t at = out.size();
    protocol::append_json_string(out, s);
    out.erase(at, 1);
    out.pop_back();
}

void append_tool_call(std::string& out, const tool_call& call) {
    out += R"({"type":"function","function":{"name":)";
    protocol::append_json_string(out, call.name);
    out += R"(,"arguments":)";
    protocol::append_json_string(out, call.arguments);
    out += R"(},"id":)";
    protocol::append_json_string(out, call.id);
    out += '}';
}

}  // namespace

chunk_formatter::chunk_formatter(const completion_meta& meta) {
    tail_ = R"(,"created":)";
    append_int(tail_, meta.created);
    tail_ += R"(,"id":)";
    protocol::append_json_string(tail_, meta.id);
    tail_ += R"(,"model":)";
    protocol::append_json_string(tail_, meta.model);
    tail_ += R"(,"system_fingerprint":)";
    protocol::append_json_string(tail_, fingerprint);
    tail_ += R"(,"object":"chat.completion.chunk")";
}

void chunk_formatter::begin(std::string& ev) const {
    ev += R"(data: {"choices":[{"finish_reason":null,"index":0,"delta":)";
}

void chunk_formatter::end(std::string& ev, std::int64_t ts_ns) const {
    ev += R"(,"mock_ts_ns":)";
    append_int(ev, ts_ns);
    ev += "}\n\n";
}

void chunk_formatter::role(std::string& ev, std::int64_t ts_ns) const {
    begin(ev);
    ev += R"({"role":"assistant","content":null}}])";
    ev += tail_;
    end(ev, ts_ns);
}

void chunk_formatter::text(std::string& ev, piece_kind kind, std::string_view text,
                           std::int64_t ts_ns) const {
    begin(ev);
    ev += kind == piece_kind::reasoning ? R"({"reasoning_content":)" : R"({"content":)";
    protocol::append_json_string(ev, text);
    ev += "}}]";
    ev += tail_;
    end(ev, ts_ns);
}

void chunk_formatter::raw_content(std::string& ev, std::string_view raw, std::int64_t ts_ns) const {
    begin(ev);
    ev += R"({"content":")";
    ev += raw;
    ev += "\"}}]";
    ev += tail_;
    end(ev, ts_ns);
}

void chunk_formatter::tool_open(std::string& ev, std::size_t index, const tool_call& call,
                                std::string_view arguments, std::int64_t ts_ns) const {
    begin(ev);
    ev += R"({"tool_calls":[{"index":)";
    append_uint(ev, index);
    ev += R"(,"id":)";
    protocol::append_json_string(ev, call.id);
    ev += R"(,"type":"function","function":{"name":)";
    protocol::append_json_string(ev, call.name);
    ev += R"(,"arguments":)";
    protocol::append_json_string(ev, arguments);
    ev += "}}]}}]";
    ev += tail_;
    end(ev, ts_ns);
}

void chunk_formatter::tool_arguments(std::string& ev, std::size_t index, std::string_view arguments,
                                     std::int64_t ts_ns) const {
    begin(ev);
    ev += R"({"tool_calls":[{"index":)";
    append_uint(ev, index);
    ev += R"(,"function":{"arguments":)";
    protocol::append_json_string(ev, arguments);
    ev += "}}]}}]";
    ev += tail_;
    end(ev, ts_ns);
}

void chunk_formatter::finish(std::string& ev, std::string_view reason, const timings* t,
                             std::int64_t ts_ns) const {
    ev += R"(data: {"choices":[{"finish_reason":)";
    protocol::append_json_string(ev, reason);
    ev += R"(,"index":0,"delta":{}}])";
    ev += tail_;
    if (t != nullptr) {
        ev += ',';
        append_timings(ev, *t);
    }
    end(ev, ts_ns);
}

void chunk_formatter::usage(std::string& ev, const usage_counts& u, const timings& t,
                            std::int64_t ts_ns) const {
    ev += R"(data: {"choices":[])";
    ev += tail_;
    ev += ',';
    append_usage(ev, u);
    ev += ',';
    append_timings(ev, t);
    end(ev, ts_ns);
}

std::string whole_completion(const completion_meta& meta, const whole_message& msg,
                             std::string_view finish_reason, const usage_counts& u,
                             const timings& t, std::int64_t ts_ns) {
    std::string out;
    out.reserve(msg.content.size() + msg.reasoning.size() + 512);
    out += R"({"choices":[{"finish_reason":)";
    protocol::append_json_string(out, finish_reason);
    out += R"(,"index":0,"message":{"role":"assistant","content":")";
    const std::size_t raw_at = msg.raw.empty() ? msg.content.size() : msg.raw_at;
    append_json_chars(out, msg.content.substr(0, raw_at));
    out += msg.raw;
    append_json_chars(out, msg.content.substr(raw_at));
    out += '"';
    if (!msg.reasoning.empty()) {
        out += R"(,"reasoning_content":)";
        protocol::append_json_string(out, msg.reasoning);
    }
    if (!msg.tool_calls.empty()) {
        out += R"(,"tool_calls":[)";
        for (std::size_t i = 0; i < msg.tool_calls.size(); ++i) {
            if (i != 0) {
                out += ',';
            }
            append_tool_call(out, msg.tool_calls[i]);
        }
        out += ']';
    }
    out += R"(}}],"created":)";
    append_int(out, meta.created);
    out += R"(,"model":)";
    protocol::append_json_string(out, meta.model);
    out += R"(,"system_fingerprint":)";
    protocol::append_json_string(out, fingerprint);
    out += R"(,"object":"chat.completion",)";
    append_usage(out, u);
    out += R"(,"id":)";
    protocol::append_json_string(out, meta.id);
    out += ',';
    append_timings(out, t);
    out += R"(,"mock_ts_ns":)";
    append_int(out, ts_ns);
    out += '}';
    return out;
}

}  // namespace llmb::mock
