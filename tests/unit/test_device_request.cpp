// The request and cancel payloads of the C device library (protocol/device): built into
// buffers of every size, and parsed back with nlohmann::json.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "protocol/device/llmb_device.h"

using json = nlohmann::json;

TEST_CASE("device: request payloads parse back to what was asked") {
    std::string tricky = "say \"hi\" \\ / \n\r\t\b\f";
    for (char c = 1; c < 0x20; ++c) {
        tricky.push_back(c);
    }
    tricky += "\x7f caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
    char out[1024];

    llmb_request req{};
    req.id = "kitchen-42";
    req.prompt = tricky.c_str();
    req.max_tokens = 200;
    req.max_packet = 256;
    req.flush_ms = 100;
    req.session = "s.1_x-y";
    const int n = llmb_build_request(&req, out, sizeof out);
    REQUIRE(n > 0);
    CHECK(out[n] == '\0');
    CHECK(json::parse(std::string(out, static_cast<std::size_t>(n))) ==
          json{{"id", "kitchen-42"},
               {"prompt", tricky},
               {"max_tokens", 200},
               {"max_packet", 256},
               {"flush_ms", 100},
               {"session", "s.1_x-y"}});
    // Every buffer too small by any amount is refused; the exact size fits.
    for (int size = 0; size <= n; ++size) {
        CHECK(llmb_build_request(&req, out, static_cast<std::size_t>(size)) == LLMB_ERR_NO_SPACE);
    }
    CHECK(llmb_build_request(&req, out, static_cast<std::size_t>(n) + 1) == n);

    const llmb_message messages[] = {{"system", "Answer in one sentence."},
                                     {"user", tricky.c_str()}};
    llmb_request chat{};
    chat.id = "q1";
    chat.messages = messages;
    chat.message_count = 2;
    const int m = llmb_build_request(&chat, out, sizeof out);
    REQUIRE(m > 0);
    CHECK(
        json::parse(std::string(out, static_cast<std::size_t>(m))) ==
        json{{"id", "q1"},
             {"messages", json::array({{{"role", "system"}, {"content", "Answer in one sentence."}},
                                       {{"role", "user"}, {"content", tricky}}})}});

    llmb_request bad = req;
    bad.messages = messages;
    bad.message_count = 2;
    CHECK(llmb_build_request(&bad, out, sizeof out) == LLMB_ERR_INVALID);  // both
    bad = chat;
    bad.messages = nullptr;
    CHECK(llmb_build_request(&bad, out, sizeof out) == LLMB_ERR_INVALID);  // neither
    bad = req;
    bad.prompt = "";
    CHECK(llmb_build_request(&bad, out, sizeof out) == LLMB_ERR_INVALID);
    for (const char* id : {"", "a b", "\xC3\xA9", "x/y",
                           "0123456789012345678901234567890123456789"
                           "012345678901234567890123X"}) {
        bad = req;
        bad.id = id;
        CHECK(llmb_build_request(&bad, out, sizeof out) == LLMB_ERR_INVALID);
        bad = req;
        bad.session = id;
        CHECK(llmb_build_request(&bad, out, sizeof out) == LLMB_ERR_INVALID);
    }
    const llmb_message no_role[] = {{nullptr, "x"}};
    bad = chat;
    bad.messages = no_role;
    bad.message_count = 1;
    CHECK(llmb_build_request(&bad, out, sizeof out) == LLMB_ERR_INVALID);

    CHECK(llmb_build_cancel("r1", out, sizeof out) == 11);
    CHECK(std::string(out) == R"({"id":"r1"})");
    CHECK(llmb_build_cancel("r1", out, 11) == LLMB_ERR_NO_SPACE);
    CHECK(llmb_build_cancel("r 1", out, sizeof out) == LLMB_ERR_INVALID);
    CHECK(llmb_name_length(std::string(64, 'a').c_str()) == 64);
    CHECK(llmb_name_length(std::string(65, 'a').c_str()) == 0);
}
