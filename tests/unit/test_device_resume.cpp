// Resuming with the C device library (protocol/device): a device whose connection dropped asks
// the bridge to replay its stream from llmb_stream_resume()'s seq, gets live events ahead of
// the replay, then the replay with what it already had; or a "gone" error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "device_support.hpp"
#include "protocol/device/llmb_device.h"

using namespace device_test;

namespace {

// The bridge's messages for a response with text, reasoning and tool calls; at the smallest
// payload the long events (tool_calls, done) come as frags, so cuts fall inside frag groups.
std::vector<std::string> resume_messages(const std::string& id, std::size_t max_payload,
                                         response& spec) {
    spec.text = sample_texts()[2] + sample_texts()[5] + sample_texts()[4];
    spec.reasoning = "thinking \xE2\x82\xAC";
    spec.tool_calls = weather_calls;
    spec.max_payload = max_payload;
    return bridge_messages(id, spec);
}

void check_exactly_once(const device& d, const response& spec, std::size_t messages) {
    CHECK(d.r.text == spec.text);
    CHECK(d.r.reasoning == spec.reasoning);
    CHECK(d.r.tool_calls == spec.tool_calls);
    CHECK(d.r.gaps.empty());
    CHECK(std::count(d.r.events.begin(), d.r.events.end(), "tool_calls") == 1);
    CHECK(std::count(d.r.events.begin(), d.r.events.end(), "done tool_calls") == 1);
    CHECK(d.r.events.back() == "done tool_calls");
    CHECK(d.r.done.bytes_match == 1);
    CHECK(d.r.done.gap == 0);
    CHECK(llmb_stream_finished(&d.st) == 1);
    CHECK(llmb_stream_contiguous(&d.st) == messages);
}

}  // namespace

TEST_CASE("device: a stream cut at every message and resumed delivers everything exactly once") {
    const std::string id = "r4";
    for (const std::size_t max_payload : {lp::min_payload_for(id), std::size_t{256}}) {
        response spec;
        const auto m = resume_messages(id, max_payload, spec);
        const std::size_t n = m.size();
        if (max_payload < 256) {
            REQUIRE(std::any_of(m.begin(), m.end(), [](const std::string& s) {
                return s.find(R"("type":"frag")") != std::string::npos;
            }));
        }
        for (std::size_t cut = 0; cut <= n; ++cut) {
            CAPTURE(max_payload);
            CAPTURE(cut);
            device d(id.c_str());
            for (std::size_t i = 0; i < cut; ++i) {
                REQUIRE(d.feed(m[i]) == LLMB_FEED_OK);
            }
            // Offline: m[cut] and m[cut + 1] are lost. Then the device resumes.
            const std::uint32_t from = llmb_stream_resume(&d.st);
            REQUIRE(from == cut);
            // Live events published after the device subscribed again, before the bridge read
            // the resume message: ahead of the replay, so they are left for it.
            for (std::size_t i = cut + 2; i < std::min(n, cut + 5); ++i) {
                REQUIRE(d.feed(m[i]) == LLMB_FEED_EARLY);
            }
            // The replay from `from` on, then live events queued after it (repeats).
            for (std::size_t i = from; i < n; ++i) {
                REQUIRE(d.feed(m[i]) == LLMB_FEED_OK);
            }
            for (std::size_t i = cut + 2; i < std::min(n, cut + 5); ++i) {
                REQUIRE(d.feed(m[i]) == LLMB_FEED_DUPLICATE);
            }
            check_exactly_once(d, spec, n);
        }
    }
}

TEST_CASE("device: a resume that missed nothing takes the next live event and drops the replay") {
    const std::string id = "r4";
    response spec;
    const auto m = resume_messages(id, lp::min_payload_for(id), spec);
    for (std::size_t cut = 0; cut < m.size(); ++cut) {
        CAPTURE(cut);
        device d(id.c_str());
        for (std::size_t i = 0; i < cut; ++i) {
            REQUIRE(d.feed(m[i]) == LLMB_FEED_OK);
        }
        REQUIRE(llmb_stream_resume(&d.st) == cut);
        REQUIRE(d.feed(m[cut]) == LLMB_FEED_OK);  // live, and the one asked for
        if (cut + 1 < m.size()) {
            REQUIRE(d.feed(m[cut + 1]) == LLMB_FEED_OK);  // waiting for the replay is over
        }
        for (std::size_t i = cut; i < m.size(); ++i) {
            const auto result = d.feed(m[i]);
            REQUIRE(result == (i <= cut + 1 ? LLMB_FEED_DUPLICATE : LLMB_FEED_OK));
        }
        check_exactly_once(d, spec, m.size());
    }
}

TEST_CASE("device: after a resume, an error \"gone\" ends the stream whatever its seq") {
    const std::string gone_at_0 =
        R"({"id":"r1","seq":0,"type":"error","code":"gone","message":"not held","retryable":false})";
    const std::string gone_ahead =
        R"({"id":"r1","seq":90,"type":"error","code":"gone","message":"not held"})";
    for (const auto& gone : {gone_at_0, gone_ahead}) {
        CAPTURE(gone);
        device d("r1");
        REQUIRE(d.feed(lp::encode_chunk("r1", 0, "Hel")) == LLMB_FEED_OK);
        REQUIRE(d.feed(lp::encode_chunk("r1", 1, "lo")) == LLMB_FEED_OK);
        REQUIRE(llmb_stream_resume(&d.st) == 2);
        // Another live error ahead of the replay is left for it, like any event.
        CHECK(d.feed(lp::encode_error("r1", 7, {lp::error_code::upstream_error, "x", {}})) ==
              LLMB_FEED_EARLY);
        CHECK(d.feed(gone) == LLMB_FEED_OK);
        CHECK(llmb_stream_finished(&d.st) == 1);
        CHECK(d.r.error_code == "gone");
        CHECK(d.r.error_message == "not held");
        CHECK(d.r.error.retryable == 0);
        CHECK(d.r.text == "Hello");
        CHECK(d.feed(lp::encode_chunk("r1", 5, "!")) == LLMB_FEED_AFTER_END);
        CHECK(d.r.events == std::vector<std::string>{"error gone"});
    }
    // Without a resume, an error below the seqs handled is a repeat like any other.
    device d("r1");
    REQUIRE(d.feed(lp::encode_chunk("r1", 0, "a")) == LLMB_FEED_OK);
    CHECK(d.feed(gone_at_0) == LLMB_FEED_DUPLICATE);
    CHECK(llmb_stream_finished(&d.st) == 0);
}

TEST_CASE("device: resume payloads and topics") {
    char out[128];
    CHECK(llmb_build_resume("r1", 7, out, sizeof out) == 24);
    CHECK(std::string(out) == R"({"id":"r1","from_seq":7})");
    CHECK(llmb_build_resume("kitchen-7.q_1", 0, out, sizeof out) > 0);
    CHECK(std::string(out) == R"({"id":"kitchen-7.q_1","from_seq":0})");
    const int n = llmb_build_resume("r1", 4294967295u, out, sizeof out);
    CHECK(std::string(out) == R"({"id":"r1","from_seq":4294967295})");
    for (int size = 0; size <= n; ++size) {
        CHECK(llmb_build_resume("r1", 4294967295u, out, static_cast<std::size_t>(size)) ==
              LLMB_ERR_NO_SPACE);
    }
    CHECK(llmb_build_resume("r1", 4294967295u, out, static_cast<std::size_t>(n) + 1) == n);
    CHECK(llmb_build_resume("r 1", 1, out, sizeof out) == LLMB_ERR_INVALID);
    CHECK(llmb_build_resume(nullptr, 1, out, sizeof out) == LLMB_ERR_INVALID);

    CHECK(llmb_build_topic("llm", "resume", "dev1", nullptr, out, sizeof out) == 15);
    CHECK(std::string(out) == "llm/resume/dev1");
    CHECK(llmb_build_topic("site/a", "response", "dev-1", "q.1", out, sizeof out) > 0);
    CHECK(std::string(out) == "site/a/response/dev-1/q.1");
    for (std::size_t size = 0; size <= 15; ++size) {
        CHECK(llmb_build_topic("llm", "resume", "dev1", nullptr, out, size) == LLMB_ERR_NO_SPACE);
    }
    CHECK(llmb_build_topic("llm", "resume", "dev1", nullptr, nullptr, 64) == LLMB_ERR_NO_SPACE);
    for (const char* bad : {"", "a/b", "+", "#", "dev 1"}) {
        CAPTURE(bad);
        CHECK(llmb_build_topic("llm", "request", bad, nullptr, out, sizeof out) ==
              LLMB_ERR_INVALID);
        CHECK(llmb_build_topic("llm", "response", "dev1", bad, out, sizeof out) ==
              LLMB_ERR_INVALID);
    }
}
