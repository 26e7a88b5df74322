#include "protocol/resume.hpp"

#include <cmath>
#include <utility>

#include <nlohmann/json.hpp>

#include "protocol/request.hpp"

namespace llmb::protocol {

namespace {

using json = nlohmann::json;

// Integers up to 2^53 are exact in every JSON implementation.
constexpr double max_seq = 9007199254740992.0;

constexpr std::string_view shape = R"(a resume is {"id":"<request id>","from_seq":<seq>})";

struct invalid {
    std::string message;
};

[[noreturn]] void fail(std::string message) {
    throw invalid{std::move(message)};
}

std::uint64_t read_seq(const json& v) {
    if (v.is_number_unsigned())
        return v.get<std::uint64_t>();
    if (v.is_number_integer())
        fail("the resume's \"from_seq\" must be 0 or more, got " + v.dump());
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && d >= 0 && d <= max_seq && std::floor(d) == d)
            return static_cast<std::uint64_t>(d);
        fail("the resume's \"from_seq\" must be an integer from 0 to 2^53, got " + v.dump());
    }
    fail("the resume's \"from_seq\" must be an integer, not " + std::string(v.type_name()));
}

}  // namespace

decoded_resume decode_resume(std::string_view payload) {
    decoded_resume out;
    try {
        if (payload.size() > max_resume_bytes) {
            fail("the resume is " + std::to_string(payload.size()) + " bytes, more than " +
                 std::to_string(max_resume_bytes) + "; " + std::string(shape));
        }
        json obj;
        try {
            obj = json::parse(payload.begin(), payload.end());
        } catch (const json::exception&) {
            fail("the resume is not valid UTF-8 JSON; " + std::string(shape));
        }
        if (!obj.is_object())
            fail("the resume must be a JSON object; " + std::string(shape));
        const auto id = obj.find("id");
        if (id == obj.end() || !id->is_string() || !valid_name(id->get_ref<const std::string&>()))
            fail(R"(the resume needs "id": the id of the request, 1 to 64 characters from )"
                 "A-Z a-z 0-9 _ . -");
        const auto seq = obj.find("from_seq");
        if (seq == obj.end() || seq->is_null())
            fail(R"(the resume needs "from_seq": the first seq the device is missing)");
        out.resume = resume_request{id->get<std::string>(), read_seq(*seq)};
    } catch (invalid& e) {
        out.err = error{error_code::bad_request, std::move(e.message), std::nullopt};
    } catch (...) {
        out.err = error{error_code::bad_request, "the resume could not be read", std::nullopt};
    }
    if (out.err)
        out.resume.reset();
    return out;
}

}  // namespace llmb::protocol
