// Fuzz target: the decoders of what devices send. The input is one payload, given to the request
// decoder (with the default limits and with tight ones), the cancel, resume, session op and legacy
// decoders; each answer must be a value that obeys the rules it promises.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "protocol/json_text.hpp"
#include "protocol/legacy.hpp"
#include "protocol/request.hpp"
#include "protocol/resume.hpp"
#include "protocol/session_op.hpp"

namespace {

namespace lp = llmb::protocol;
using llmb::fuzz::require;
using json = nlohmann::json;

constexpr std::string_view generated_id = "gen-1";
constexpr std::uint32_t max_mqtt_packet = 268435455;

bool parses_as(std::string_view text, json::value_t type) {
    const json v = json::parse(text, nullptr, false);
    return !v.is_discarded() && v.type() == type;
}

bool known_role(std::string_view role) {
    return role == "system" || role == "user" || role == "assistant" || role == "tool";
}

void check_error(const lp::error& err) {
    require(!err.message.empty(), "an error has a message");
}

void check_request_fields(const lp::request& req, const lp::request_limits& limits) {
    require(!req.messages.empty(), "a request has messages");
    require(req.messages.size() <= limits.max_messages, "messages within max_messages");
    for (const auto& m : req.messages) {
        require(known_role(m.role), "a message has a known role");
        const json raw = json::parse(m.raw_json, nullptr, false);
        require(raw.is_object(), "a message's raw_json is a JSON object");
        require(raw.contains("role") && raw["role"] == m.role, "raw_json carries the role");
    }
    if (req.session) {
        require(lp::valid_name(*req.session), "a session is a valid name");
    }
    if (req.model) {
        require(!req.model->empty() && req.model->size() <= 256, "a model is 1..256 bytes");
        for (const char c : *req.model) {
            const auto b = static_cast<unsigned char>(c);
            require(b >= 0x20 && b != 0x7f, "a model has no control characters");
        }
    }
    if (req.temperature) {
        require(*req.temperature >= 0.0 && *req.temperature <= 2.0, "temperature in [0, 2]");
    }
    if (req.top_p) {
        require(*req.top_p >= 0.0 && *req.top_p <= 1.0, "top_p in [0, 1]");
    }
    if (req.max_tokens) {
        require(*req.max_tokens >= 1 && *req.max_tokens <= limits.max_tokens,
                "max_tokens in [1, limit]");
    }
    require(req.stop.size() <= limits.max_stop, "stop within max_stop");
    for (const auto& s : req.stop) {
        require(!s.empty(), "stop strings are not empty");
    }
    if (!req.tools_json.empty()) {
        const json tools = json::parse(req.tools_json, nullptr, false);
        require(tools.is_array() && !tools.empty(), "tools_json is a non-empty array");
    }
    if (!req.tool_choice_json.empty()) {
        require(json::accept(req.tool_choice_json), "tool_choice_json is JSON");
    }
    if (req.max_packet) {
        require(*req.max_packet >= limits.min_packet && *req.max_packet <= max_mqtt_packet,
                "max_packet in [min_packet, 268435455]");
    }
    require(req.flush_ms <= limits.max_flush_ms, "flush_ms within max_flush_ms");
}

void check_request(std::string_view payload, const lp::request_limits& limits) {
    const auto out = lp::decode_request(payload, limits, generated_id);
    require(out.req.has_value() != out.err.has_value(), "a request or an error, not both");
    require(!out.id.empty(), "a decoded request has an id");
    if (out.id_generated) {
        require(out.id == generated_id, "a generated id is the one given");
    } else {
        require(lp::valid_name(out.id), "a request's own id is a valid name");
    }
    if (out.err) {
        check_error(*out.err);
        require(out.err->code == lp::error_code::bad_request ||
                    out.err->code == lp::error_code::too_large,
                "a request error is bad_request or too_large");
        if (payload.size() > limits.max_request_bytes) {
            require(out.err->code == lp::error_code::too_large, "an oversize payload is too_large");
        }
        return;
    }
    require(payload.size() <= limits.max_request_bytes, "an accepted payload is within the limit");
    require(lp::valid_utf8(payload), "an accepted payload is valid UTF-8");
    require(out.req->id == out.id && out.req->id_generated == out.id_generated,
            "the request carries the decoded id");
    check_request_fields(*out.req, limits);
}

void check_cancel(std::string_view payload) {
    const auto out = lp::decode_cancel(payload);
    require(out.id.has_value() != out.err.has_value(), "a cancel id or an error, not both");
    if (out.id) {
        require(lp::valid_name(*out.id), "a cancel id is a valid name");
    } else {
        check_error(*out.err);
        require(out.err->code == lp::error_code::bad_request, "a cancel error is bad_request");
    }
}

void check_resume(std::string_view payload) {
    const auto out = lp::decode_resume(payload);
    require(out.resume.has_value() != out.err.has_value(), "a resume or an error, not both");
    if (out.resume) {
        require(lp::valid_name(out.resume->id), "a resume id is a valid name");
        require(payload.size() <= lp::max_resume_bytes, "a resume within its size");
    } else {
        check_error(*out.err);
        require(out.err->code == lp::error_code::bad_request, "a resume error is bad_request");
    }
}

void check_session_op(std::string_view payload) {
    const auto out = lp::decode_session_op(payload, generated_id);
    require(out.op.has_value() != out.err.has_value(), "a session op or an error, not both");
    require(!out.id.empty(), "a session op has an id");
    if (out.id_generated) {
        require(out.id == generated_id, "a generated session op id is the one given");
    } else {
        require(lp::valid_name(out.id), "a session op's own id is a valid name");
    }
    if (out.err) {
        check_error(*out.err);
        return;
    }
    require(payload.size() <= lp::max_session_op_bytes, "an accepted op is within the limit");
    require(out.op->id == out.id, "the op carries the decoded id");
    require(lp::valid_name(out.op->session), "an op names a valid session");
    const bool set_system = out.op->op == lp::session_op_kind::set_system;
    require(out.op->system.has_value() == set_system, "system is given exactly for set_system");
    if (out.op->system) {
        require(out.op->system->size() <= lp::max_session_system_bytes, "system within its limit");
    }
}

void check_legacy(std::string_view payload, const lp::request_limits& limits) {
    constexpr std::string_view prefix = "llm";
    const auto out = lp::decode_legacy(payload, prefix, limits, generated_id);
    require(out.req.has_value() != out.err.has_value(), "a legacy request or an error, not both");
    if (!out.reply_topic.empty()) {
        const std::string reply_prefix = std::string(prefix) + "/assistant_response/";
        require(out.reply_topic.rfind(reply_prefix, 0) == 0 &&
                    out.reply_topic.size() > reply_prefix.size(),
                "a reply topic lies under {prefix}/assistant_response/");
        require(out.reply_topic.find_first_of(std::string_view("+#\0", 3)) == std::string::npos,
                "a reply topic has no wildcard or NUL");
        require(lp::valid_utf8(out.reply_topic), "a reply topic is valid UTF-8");
    }
    if (out.err) {
        check_error(*out.err);
        return;
    }
    const auto& req = *out.req;
    require(req.id == generated_id && req.id_generated, "a legacy request has the generated id");
    require(req.whole_mode(), "a legacy request is answered whole");
    require(!req.messages.empty() && req.messages.back().role == "user" &&
                !req.messages.back().content.empty(),
            "a legacy request ends with a non-empty user message");
    for (const auto& m : req.messages) {
        require(parses_as(m.raw_json, json::value_t::object), "legacy raw_json is an object");
    }
    check_request_fields(req, limits);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view payload(reinterpret_cast<const char*>(data), size);

    const lp::request_limits defaults;
    lp::request_limits tight;
    tight.max_request_bytes = 512;
    tight.max_messages = 2;
    tight.max_tokens = 100;
    tight.max_stop = 1;
    tight.max_flush_ms = 50;
    tight.min_packet = 1024;

    check_request(payload, defaults);
    check_request(payload, tight);
    check_cancel(payload);
    check_resume(payload);
    check_session_op(payload);
    check_legacy(payload, defaults);
    return 0;
}
