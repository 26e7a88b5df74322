// Decoding of session operations (rules in session_op.hpp).
#include "protocol/session_op.hpp"

#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "protocol/json_text.hpp"
#include "protocol/request.hpp"

namespace llmb::protocol {

namespace {

using json = nlohmann::json;

constexpr std::size_t max_depth = 64;

struct op_name {
    session_op_kind op;
    std::string_view name;
};

constexpr std::array<op_name, 4> op_names{{
    {session_op_kind::get, "get"},
    {session_op_kind::clear, "clear"},
    {session_op_kind::erase, "delete"},
    {session_op_kind::set_system, "set_system"},
}};

// A broken rule, thrown inside the decoder and turned into an error value at its boundary.
struct invalid {
    std::string message;
};

[[noreturn]] void fail(std::string message) {
    throw invalid{std::move(message)};
}

std::string type_name(const json& v) {
    if (v.is_null()) {
        return "null";
    }
    return (v.is_object() || v.is_array() ? "an " : "a ") + std::string(v.type_name());
}

// The value of key in obj, or nullptr when it is absent or null.
const json* field(const json& obj, const char* key) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return nullptr;
    }
    return &*it;
}

json parse_object(std::string_view payload) {
    if (payload.size() > max_session_op_bytes) {
        fail("the session op is " + std::to_string(payload.size()) +
             " bytes, more than the limit of " + std::to_string(max_session_op_bytes) + " bytes");
    }
    if (!valid_utf8(payload)) {
        fail("the session op is not valid UTF-8");
    }
    if (json_nested_deeper_than(payload, max_depth)) {
        fail("the session op is nested deeper than " + std::to_string(max_depth) +
             " levels of arrays and objects");
    }
    json doc;
    try {
        doc = json::parse(payload.begin(), payload.end());
    } catch (const json::parse_error& e) {
        fail("the session op is not valid JSON (syntax error at byte " + std::to_string(e.byte) +
             ")");
    }
    if (!doc.is_object()) {
        fail("the session op must be a JSON object, not " + type_name(doc));
    }
    return doc;
}

// A valid name, or nullopt when the field is absent.
std::optional<std::string> name_field(const json& obj, const char* key) {
    const json* v = field(obj, key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_string() || !valid_name(v->get_ref<const std::string&>())) {
        fail("\"" + std::string(key) +
             "\" must be a string of 1 to 64 characters from A-Z a-z 0-9 _ . -" +
             (v->is_string() ? std::string() : ", not " + type_name(*v)));
    }
    return v->get<std::string>();
}

session_op_kind decode_kind(const json& obj) {
    const json* v = field(obj, "op");
    if (v == nullptr) {
        fail(R"(the session op needs "op": "get", "clear", "delete" or "set_system")");
    }
    if (v->is_string()) {
        for (const auto& n : op_names) {
            if (v->get_ref<const std::string&>() == n.name) {
                return n.op;
            }
        }
    }
    fail(R"("op" must be "get", "clear", "delete" or "set_system")" +
         (v->is_string() ? std::string() : ", not " + type_name(*v)));
}

std::optional<std::string> decode_system(const json& obj, session_op_kind op) {
    const json* v = field(obj, "system");
    if (op != session_op_kind::set_system) {
        if (v != nullptr) {
            fail(R"("system" belongs to op "set_system" only, not ")" + std::string(to_string(op)) +
                 "\"");
        }
        return std::nullopt;
    }
    if (v == nullptr) {
        fail(R"(op "set_system" needs "system": the session's system text ("" removes it))");
    }
    if (!v->is_string()) {
        fail(R"("system" must be a string, not )" + type_name(*v));
    }
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > max_session_system_bytes) {
        fail(R"("system" is )" + std::to_string(s.size()) + " bytes, more than the limit of " +
             std::to_string(max_session_system_bytes) + " bytes");
    }
    return s;
}

}  // namespace

std::string_view to_string(session_op_kind op) noexcept {
    for (const auto& n : op_names) {
        if (n.op == op) {
            return n.name;
        }
    }
    return "get";
}

decoded_session_op decode_session_op(std::string_view payload, std::string_view generated_id) {
    decoded_session_op out;
    out.id = generated_id;
    out.id_generated = true;
    try {
        const json obj = parse_object(payload);
        if (auto id = name_field(obj, "id")) {
            out.id = std::move(*id);
            out.id_generated = false;
        }
        session_op op;
        op.op = decode_kind(obj);
        auto name = name_field(obj, "session");
        if (!name) {
            fail(R"(the session op needs "session": the name of the conversation)");
        }
        op.session = std::move(*name);
        op.system = decode_system(obj, op.op);
        op.id = out.id;
        op.id_generated = out.id_generated;
        out.op = std::move(op);
    } catch (invalid& e) {
        out.err = error{error_code::bad_request, std::move(e.message), std::nullopt};
    } catch (...) {
        out.err = error{error_code::bad_request, "the session op could not be read", std::nullopt};
    }
    if (out.err) {
        out.op.reset();
    }
    return out;
}

}  // namespace llmb::protocol
