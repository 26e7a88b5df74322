// Decoding resume messages: the valid forms and a clear bad_request for everything else.
#include <doctest/doctest.h>

#include <string>

#include "protocol/resume.hpp"

namespace p = llmb::protocol;

TEST_CASE("decode_resume reads id and from_seq") {
    auto r = p::decode_resume(R"({"id":"r1","from_seq":7})");
    REQUIRE(r.resume.has_value());
    CHECK_FALSE(r.err.has_value());
    CHECK(r.resume->id == "r1");
    CHECK(r.resume->from_seq == 7);

    r = p::decode_resume(R"({"from_seq":0.0,"id":"a.b-c_9","extra":[1,2]})");
    REQUIRE(r.resume.has_value());
    CHECK(r.resume->from_seq == 0);
    CHECK(r.resume->id == "a.b-c_9");

    r = p::decode_resume(R"({"id":"r1","from_seq":9007199254740992})");
    REQUIRE(r.resume.has_value());
    CHECK(r.resume->from_seq == 9007199254740992ull);
}

TEST_CASE("decode_resume refuses what is not a resume with a bad_request that says why") {
    const struct {
        std::string payload;
        const char* says;
    } bad[] = {
        {"", "JSON"},
        {"not json", "JSON"},
        {"[1,2]", "object"},
        {"\"r1\"", "object"},
        {"{\"id\":\"r\xff\",\"from_seq\":1}", "JSON"},
        {R"({"from_seq":1})", "\"id\""},
        {R"({"id":"","from_seq":1})", "\"id\""},
        {R"({"id":"a b","from_seq":1})", "\"id\""},
        {R"({"id":7,"from_seq":1})", "\"id\""},
        {R"({"id":")" + std::string(65, 'x') + R"(","from_seq":1})", "\"id\""},
        {R"({"id":"r1"})", "\"from_seq\""},
        {R"({"id":"r1","from_seq":null})", "\"from_seq\""},
        {R"({"id":"r1","from_seq":-1})", "\"from_seq\""},
        {R"({"id":"r1","from_seq":1.5})", "\"from_seq\""},
        {R"({"id":"r1","from_seq":1e300})", "\"from_seq\""},
        {R"({"id":"r1","from_seq":"3"})", "\"from_seq\""},
        {R"({"id":"r1","from_seq":1,"pad":")" + std::string(2000, 'x') + "\"}", "bytes"},
        {std::string(100000, '['), "bytes"},
    };
    for (const auto& b : bad) {
        INFO("payload: " << b.payload.substr(0, 80));
        const auto r = p::decode_resume(b.payload);
        CHECK_FALSE(r.resume.has_value());
        REQUIRE(r.err.has_value());
        CHECK(r.err->code == p::error_code::bad_request);
        CHECK(r.err->message.find(b.says) != std::string::npos);
    }
}
