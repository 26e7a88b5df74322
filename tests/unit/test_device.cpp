// The decoder of the C device library (protocol/device), fed the events the bridge's own encoder
// and splitter produce (protocol/envelope.hpp, packet.hpp): whole, truncated, repeated,
// reordered and with messages lost; and hostile payloads. Requests: test_device_request.cpp;
// resuming: test_device_resume.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "device_support.hpp"
#include "protocol/device/llmb_device.h"
#include "protocol/envelope.hpp"
#include "protocol/packet.hpp"

using json = nlohmann::json;

using namespace device_test;

namespace {

// Feeds every message, first cut short at every length (each cut must be refused without a
// callback), then whole.
void feed_with_cuts(device& d, const std::vector<std::string>& messages) {
    for (const auto& m : messages) {
        const std::size_t calls = d.r.calls;
        const std::uint32_t contiguous = llmb_stream_contiguous(&d.st);
        for (std::size_t len = 0; len < m.size(); ++len) {
            REQUIRE_MESSAGE(llmb_stream_feed(&d.st, nullptr, m.data(), len) == LLMB_FEED_MALFORMED,
                            m.substr(0, len));
        }
        REQUIRE(d.r.calls == calls);
        REQUIRE(llmb_stream_contiguous(&d.st) == contiguous);
        REQUIRE(d.feed(m) == LLMB_FEED_OK);
    }
}

void check_complete(const device& d, const response& spec, std::size_t messages) {
    CHECK(d.r.text == spec.text);
    CHECK(d.r.reasoning == spec.reasoning);
    CHECK(d.r.tool_calls == spec.tool_calls);
    CHECK(d.r.gaps.empty());
    CHECK(llmb_stream_finished(&d.st) == 1);
    CHECK(llmb_stream_contiguous(&d.st) == messages);
    CHECK(d.r.done.bytes_match == 1);
    CHECK(d.r.done.gap == 0);
    CHECK(d.r.done.bytes == spec.text.size());
    CHECK(d.r.done.duration_ms == 1234);
    CHECK(d.r.done.has_prompt_tokens == 1);
    CHECK(d.r.done.prompt_tokens == 12);
    CHECK(d.r.done.completion_tokens == 34);
    CHECK(d.r.finish_reason == (spec.tool_calls.empty() ? "stop" : "tool_calls"));
    REQUIRE(d.r.events.size() >= 4);
    CHECK(d.r.events[0] == std::string("start qwen \"2.5\" \xC3\xA9") +
                               (spec.tool_calls.empty() ? " stream" : " whole"));
    CHECK(d.r.events[1] == "status 0 3");
    CHECK(d.r.events[2] == "status 1 0");
}

}  // namespace

TEST_CASE("device: the bridge's streams decode to the exact text, at every packet size") {
    const std::string id = "kitchen-7.q_1";
    for (const auto& text : sample_texts()) {
        for (const std::size_t max_payload :
             {lp::min_payload_for(id), std::size_t{120}, std::size_t{256}, std::size_t{4096}}) {
            response spec;
            spec.text = text;
            spec.reasoning = text.size() > 40 ? text.substr(0, 40) : text;
            spec.max_payload = max_payload;
            CAPTURE(text);
            CAPTURE(max_payload);
            const auto messages = bridge_messages(id, spec);
            device d(id.c_str());
            for (const auto& m : messages) {
                REQUIRE(m.size() <= max_payload);
                REQUIRE(d.feed(m) == LLMB_FEED_OK);
            }
            check_complete(d, spec, messages.size());
        }
    }
}

TEST_CASE("device: every message cut at every length is refused cleanly") {
    const std::string id = "r7";
    for (const std::size_t max_payload : {lp::min_payload_for(id), std::size_t{256}}) {
        response spec;
        spec.text = sample_texts()[2] + sample_texts()[5];
        spec.reasoning = "thinking \xE2\x82\xAC";
        spec.tool_calls = weather_calls;
        spec.max_payload = max_payload;
        const auto messages = bridge_messages(id, spec);
        device d(id.c_str());
        feed_with_cuts(d, messages);
        check_complete(d, spec, messages.size());
        CHECK(d.r.events.back() == "done tool_calls");
    }
}

TEST_CASE("device: tool_calls whole and joined from frags") {
    const std::string id = "r5";
    for (const std::size_t max_payload :
         {std::size_t{4096}, std::size_t{180}, lp::min_payload_for(id)}) {
        response spec;
        spec.tool_calls = weather_calls;
        spec.max_payload = max_payload;
        const auto messages = bridge_messages(id, spec);
        device d(id.c_str());
        for (const auto& m : messages) {
            REQUIRE(d.feed(m) == LLMB_FEED_OK);
        }
        CHECK(d.r.tool_calls == weather_calls);
        CHECK(json::parse(d.r.tool_calls) == json::parse(weather_calls));
        check_complete(d, spec, messages.size());
    }
}

TEST_CASE("device: \\u escapes, surrogate pairs and short escapes decode byte for byte") {
    const std::vector<std::string> escaped = {
        R"(\u0041\u00e9\u00E9\u4e2d\u20AC)",
        R"(\ud83d\ude00 and \uD83C\uDF0D)",
        R"(\"\\\/\b\f\n\r\t)",
        R"(\u0000 nul \u001f)",
        "raw \xF0\x9F\x98\x80 and escaped \\ud83d\\ude00",
    };
    for (const auto& e : escaped) {
        CAPTURE(e);
        const std::string payload = R"({"id":"r1","seq":0,"type":"chunk","text":")" + e + "\"}";
        device d("r1");
        REQUIRE(d.feed(payload) == LLMB_FEED_OK);
        CHECK(d.r.text == json::parse(payload)["text"].get<std::string>());
    }
    // A lone surrogate (which nlohmann refuses) becomes U+FFFD, and the rest is kept.
    device d("r1");
    REQUIRE(d.feed(R"({"id":"r1","seq":0,"type":"chunk","text":"a\ud800b\udc00\ud800\u0041"})") ==
            LLMB_FEED_OK);
    CHECK(d.r.text ==
          "a\xEF\xBF\xBD"
          "b\xEF\xBF\xBD\xEF\xBF\xBD"
          "A");
}

TEST_CASE("device: status, start, error and unknown events") {
    device d("r1");
    CHECK(d.feed(R"({"id":"r1","seq":0,"type":"start","model":"m\n1","mode":"whole"})") ==
          LLMB_FEED_OK);
    CHECK(d.feed(lp::encode_status_queued("r1", 1, 7)) == LLMB_FEED_OK);
    CHECK(d.feed(lp::encode_status_generating("r1", 2)) == LLMB_FEED_OK);
    CHECK(d.feed(lp::encode_status_trimmed("r1", 3, 4)) == LLMB_FEED_OK);
    CHECK(d.feed(R"({"id":"r1","seq":4,"type":"status","status":"thinking"})") == LLMB_FEED_OK);
    CHECK(d.feed(R"({"id":"r1","seq":5,"type":"novelty","x":[1,{"y":null}]})") == LLMB_FEED_OK);
    lp::error err{lp::error_code::rate_limited, "slow down \"please\" \xE2\x82\xAC", 1500};
    CHECK(d.feed(lp::encode_error("r1", 6, err)) == LLMB_FEED_OK);
    CHECK(d.r.events == std::vector<std::string>{"start m\n1 whole", "status 0 7", "status 1 0",
                                                 "status 2 4", "status 3 0", "error rate_limited"});
    CHECK(d.r.error_message == err.message);
    CHECK(d.r.error.retryable == 1);
    CHECK(d.r.error.retry_after_ms == 1500);
    CHECK(llmb_stream_finished(&d.st) == 1);
    CHECK(llmb_stream_contiguous(&d.st) == 7);
    CHECK(d.feed(lp::encode_chunk("r1", 7, "late")) == LLMB_FEED_AFTER_END);
    CHECK(d.feed(lp::encode_chunk("r1", 3, "old")) == LLMB_FEED_DUPLICATE);
    CHECK(d.r.text.empty());

    device e("r2");
    CHECK(e.feed(lp::encode_error("r2", 0, {lp::error_code::internal, "x", std::nullopt})) ==
          LLMB_FEED_OK);
    CHECK(e.r.error.retryable == 0);
    CHECK(e.r.error.retry_after_ms == 0);

    device s("q1");  // a session operation's terminal ends the stream without a callback
    CHECK(s.feed(R"({"id":"q1","seq":0,"type":"session","ok":true,"session":"s1"})") ==
          LLMB_FEED_OK);
    CHECK(llmb_stream_finished(&s.st) == 1);
    CHECK(s.r.calls == 0);
}

TEST_CASE("device: done without usage, and a done whose bytes disagree") {
    lp::done_info info;
    info.finish_reason = "cancelled";
    info.bytes = 3;
    device d("r1");
    CHECK(d.feed(lp::encode_chunk("r1", 0, "abc")) == LLMB_FEED_OK);
    CHECK(d.feed(lp::encode_done("r1", 1, info)) == LLMB_FEED_OK);
    CHECK(d.r.finish_reason == "cancelled");
    CHECK(d.r.done.has_prompt_tokens == 0);
    CHECK(d.r.done.has_completion_tokens == 0);
    CHECK(d.r.done.bytes_match == 1);
    CHECK(d.r.done.duration_ms == 0);  // absent from this done

    // duration_ms read wherever it stands, and as large as it may be
    device t("r1");
    CHECK(t.feed(R"({"id":"r1","seq":0,"type":"done","duration_ms":4294967295,"bytes":0})") ==
          LLMB_FEED_OK);
    CHECK(t.r.done.duration_ms == 4294967295u);
    CHECK(t.r.done.bytes_match == 1);

    info.bytes = 4;
    info.usage = lp::token_usage{std::nullopt, 9};
    device e("r1");
    CHECK(e.feed(lp::encode_chunk("r1", 0, "abc")) == LLMB_FEED_OK);
    CHECK(e.feed(lp::encode_done("r1", 1, info)) == LLMB_FEED_OK);
    CHECK(e.r.done.bytes_match == 0);
    CHECK(e.r.done.has_prompt_tokens == 0);
    CHECK(e.r.done.has_completion_tokens == 1);
    CHECK(e.r.done.completion_tokens == 9);
}

TEST_CASE("device: duplicates are dropped, wherever they come again") {
    response spec;
    spec.text = sample_texts().back();
    spec.tool_calls = weather_calls;
    spec.max_payload = 150;
    const auto messages = bridge_messages("r1", spec);
    device d("r1");
    for (std::size_t i = 0; i < messages.size(); ++i) {
        REQUIRE(d.feed(messages[i]) == LLMB_FEED_OK);
        REQUIRE(d.feed(messages[i]) == LLMB_FEED_DUPLICATE);  // redelivered at once
        if (i >= 3) {
            REQUIRE(d.feed(messages[i - 3]) == LLMB_FEED_DUPLICATE);  // or after a reconnect
        }
    }
    check_complete(d, spec, messages.size());
}

TEST_CASE("device: a lost message is reported as a gap and the stream goes on") {
    response spec;
    spec.text = sample_texts()[4] + sample_texts()[5];
    spec.max_payload = 80;
    const auto messages = bridge_messages("r1", spec);
    // The last chunk: its text is missing, done (in frags at this size) still arrives and says so.
    std::size_t lost = 0;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        lost = messages[i].find(R"("type":"chunk")") != std::string::npos ? i : lost;
    }
    REQUIRE(messages[lost + 1].find(R"("of":"done")") != std::string::npos);
    device d("r1");
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (i != lost) {
            REQUIRE(d.feed(messages[i]) == LLMB_FEED_OK);
        }
    }
    REQUIRE(d.r.gaps.size() == 1);
    CHECK(d.r.gaps[0] ==
          std::make_pair(static_cast<std::uint32_t>(lost), static_cast<std::uint32_t>(lost + 1)));
    CHECK(llmb_stream_contiguous(&d.st) == lost);
    CHECK(d.r.text.size() < spec.text.size());
    CHECK(spec.text.compare(0, d.r.text.size(), d.r.text) == 0);
    CHECK(llmb_stream_finished(&d.st) == 1);
    CHECK(d.r.done.gap == 1);
    CHECK(d.r.done.bytes_match == 0);
    // The lost message turning up late is taken for a duplicate.
    CHECK(d.feed(messages[lost]) == LLMB_FEED_DUPLICATE);
}

TEST_CASE("device: frags out of order, lost or repeated") {
    const std::string id = "r9";
    response spec;
    spec.tool_calls = weather_calls;
    spec.max_payload = lp::min_payload_for(id);
    const auto messages = bridge_messages(id, spec);
    // The frags of tool_calls: between the last status and done.
    std::size_t first = 0;
    std::size_t last = 0;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].find(R"("of":"tool_calls")") != std::string::npos) {
            first = first == 0 ? i : first;
            last = i;
        }
    }
    REQUIRE(first > 0);
    REQUIRE(last >= first + 3);

    SUBCASE("repeated") {
        device d(id.c_str());
        for (std::size_t i = 0; i < messages.size(); ++i) {
            REQUIRE(d.feed(messages[i]) == LLMB_FEED_OK);
            if (i >= first && i <= last) {
                REQUIRE(d.feed(messages[first]) == LLMB_FEED_DUPLICATE);
                REQUIRE(d.feed(messages[i]) == LLMB_FEED_DUPLICATE);
            }
        }
        check_complete(d, spec, messages.size());
    }
    SUBCASE("swapped: a gap, the event is lost, the stream ends") {
        device d(id.c_str());
        for (std::size_t i = 0; i < messages.size(); ++i) {
            const std::size_t j = i == first + 1 ? first + 2 : i == first + 2 ? first + 1 : i;
            const auto result = d.feed(messages[j]);
            if (j == first + 1) {
                CHECK(result == LLMB_FEED_DUPLICATE);  // arrives after first + 2
            } else if (j > first + 1 && j <= last) {
                CHECK(result == LLMB_FEED_IGNORED);  // the rest of an event already broken
            } else {
                CHECK(result == LLMB_FEED_OK);
            }
        }
        CHECK(d.r.gaps.size() == 1);
        CHECK(d.r.tool_calls.empty());
        CHECK(d.r.events.back() == "done tool_calls");
        CHECK(llmb_stream_contiguous(&d.st) == first + 1);
    }
    SUBCASE("the first frag lost") {
        device d(id.c_str());
        for (std::size_t i = 0; i < messages.size(); ++i) {
            if (i != first) {
                d.feed(messages[i]);
            }
        }
        CHECK(d.r.gaps.size() == 1);
        CHECK(d.r.tool_calls.empty());
        CHECK(llmb_stream_finished(&d.st) == 1);
    }
}

TEST_CASE("device: a frag that does not continue the event being joined drops that event") {
    lp::done_info info;
    info.finish_reason = "stop";
    const std::string event = lp::encode_done("r1", 0, info);
    const std::size_t third = event.size() / 3;
    const std::string data[] = {event.substr(0, third), event.substr(third, third),
                                event.substr(2 * third)};
    const auto frag = [&](std::uint64_t seq, std::string_view of, std::uint64_t part,
                          std::uint64_t parts) {
        return lp::encode_frag("r1", seq, of, part, parts, data[std::min<std::uint64_t>(part, 2)]);
    };
    {
        device d("r1");  // in order: the event arrives
        CHECK(d.feed(frag(0, "done", 0, 3)) == LLMB_FEED_OK);
        CHECK(d.feed(frag(1, "done", 1, 3)) == LLMB_FEED_OK);
        CHECK(d.feed(frag(2, "done", 2, 3)) == LLMB_FEED_OK);
        CHECK(d.r.events == std::vector<std::string>{"done stop"});
    }
    const std::string wrong[] = {frag(1, "done", 2, 3), frag(1, "done", 1, 4),
                                 frag(1, "error", 1, 3)};
    for (const auto& w : wrong) {
        CAPTURE(w);
        device d("r1");
        CHECK(d.feed(frag(0, "done", 0, 3)) == LLMB_FEED_OK);
        CHECK(d.feed(w) == LLMB_FEED_MALFORMED);
        CHECK(d.feed(frag(2, "done", 2, 3)) == LLMB_FEED_IGNORED);
        CHECK(d.r.calls == 0);
        CHECK(llmb_stream_finished(&d.st) == 0);
        CHECK(d.r.gaps.empty());
    }
}

TEST_CASE("device: an event larger than the work buffer is dropped, a terminal still ends") {
    const std::string id = "r3";
    response spec;
    spec.tool_calls = weather_calls;
    spec.max_payload = lp::min_payload_for(id);
    const auto messages = bridge_messages(id, spec);
    device d(id.c_str(), 120);  // the tool_calls event is about 200 bytes, done about 190
    std::size_t overflows = 0;
    for (const auto& m : messages) {
        const auto result = d.feed(m);
        CHECK((result == LLMB_FEED_OK || result == LLMB_FEED_OVERFLOW));
        overflows += result == LLMB_FEED_OVERFLOW ? 1 : 0;
    }
    CHECK(overflows == 2);
    CHECK(d.r.tool_calls.empty());
    CHECK(llmb_stream_finished(&d.st) == 1);
    CHECK(d.r.gaps.empty());

    // Without a buffer, strings of whole events come out empty rather than wrong.
    recorder r;
    llmb_stream st{};
    REQUIRE(llmb_stream_init(&st, "r1", nullptr, nullptr, 0, &recording_callbacks, &r) == 0);
    const std::string err = lp::encode_error("r1", 0, {lp::error_code::internal, "m", {}});
    CHECK(llmb_stream_feed(&st, nullptr, err.data(), err.size()) == LLMB_FEED_OK);
    CHECK(r.error_code.empty());
}

TEST_CASE("device: other requests and other topics are ignored") {
    device d("r1", 256, "llm/response/dev1/r1");
    const std::string mine = lp::encode_chunk("r1", 0, "x");
    CHECK(d.feed(lp::encode_chunk("r2", 0, "y")) == LLMB_FEED_IGNORED);
    CHECK(d.feed(lp::encode_chunk("r10", 0, "y")) == LLMB_FEED_IGNORED);
    CHECK(d.feed(mine, "llm/text/dev1/r1") == LLMB_FEED_IGNORED);
    CHECK(d.feed(mine, "llm/response/dev1/r1") == LLMB_FEED_OK);
    CHECK(d.r.text == "x");
    CHECK(llmb_stream_init(&d.st, "bad id", nullptr, nullptr, 0, &recording_callbacks, &d.r) ==
          LLMB_ERR_INVALID);
    CHECK(llmb_stream_init(&d.st, "r1", nullptr, nullptr, 0, nullptr, nullptr) == LLMB_ERR_INVALID);
}

TEST_CASE("device: hostile payloads are refused without a callback") {
    const std::string deep = std::string(40, '[') + std::string(40, ']');
    const std::vector<std::string> hostile = {
        "",
        "{",
        "[]",
        "{}",
        "null",
        R"({"id":"r1"})",
        R"({"id":"r1","seq":-1,"type":"chunk","text":"a"})",
        R"({"id":"r1","seq":4294967295,"type":"chunk","text":"a"})",
        R"({"id":"r1","seq":4294967296,"type":"chunk","text":"a"})",
        R"({"id":"r1","seq":0.0,"type":"chunk","text":"a"})",
        R"({"id":"r1","seq":"0","type":"chunk","text":"a"})",
        R"({"id":"r1","seq":0,"type":"chunk"})",
        R"({"id":"r1","seq":0,"type":"chunk","text":"a","reasoning":"b"})",
        R"({"id":"r1","seq":0,"type":"chunk","text":5})",
        R"({"id":"r1","seq":0,"type":"chunk","text":"a\x"})",
        R"({"id":"r1","seq":0,"type":"chunk","text":"a\u12G4"})",
        R"({"id":"r1","seq":0,"type":"chunk","text":"a\u12"})",
        "{\"id\":\"r1\",\"seq\":0,\"type\":\"chunk\",\"text\":\"a\x01\"}",
        R"({"id":"r1","seq":0,"type":"chunk","text":"a"}x)",
        R"({"id":"r1","seq":0,"type":"chunk","text":"a",})",
        R"({"id":"r1","seq":0,"type":"chunk","text":"a"}})",
        R"({"id":"r1","seq":0,"type":"chunk","text" "a"})",
        R"({"id":"r1","seq":0,"type":"tool_calls","tool_calls":[}])",
        R"({"id":"r1","seq":0,"type":"tool_calls","tool_calls":{}})",
        R"({"id":"r1","seq":0,"type":"tool_calls","tool_calls":)" + deep + "}",
        R"({"id":"r1","seq":0,"type":"frag","of":"done","part":2,"parts":2,"data":"{"})",
        R"({"id":"r1","seq":0,"type":"frag","of":"done","part":0,"parts":2,"data":7})",
        R"({"id":"r1","seq":0,"type":"frag","part":0,"parts":2,"data":"{"})",
    };
    for (const auto& h : hostile) {
        CAPTURE(h);
        device d("r1");
        CHECK(d.feed(h) == LLMB_FEED_MALFORMED);
        CHECK(d.r.calls == 0);
        CHECK(llmb_stream_contiguous(&d.st) == 0);
        CHECK(d.feed(lp::encode_chunk("r1", 0, "ok")) == LLMB_FEED_OK);  // nothing was spoilt
        CHECK(d.r.text == "ok");
    }
    // Frags that join to something that is not this request's event of that type.
    const std::vector<std::string> bad_joins = {
        R"({\"id\":\"r1\",\"seq\":0,\"type\":\"error\",\"code\":\"x\"})",  // of says done
        R"({\"id\":\"r2\",\"seq\":0,\"type\":\"done\"})",
        R"({\"id\":\"r1\",\"seq\":1,\"type\":\"done\"})",
        R"({\"id\":\"r1\",\"seq\":0,\"type\":\"done\")",
    };
    for (const auto& data : bad_joins) {
        CAPTURE(data);
        device d("r1");
        CHECK(d.feed(R"({"id":"r1","seq":0,"type":"frag","of":"done","part":0,"parts":1,"data":")" +
                     data + "\"}") == LLMB_FEED_MALFORMED);
        CHECK(d.r.calls == 0);
        CHECK(llmb_stream_finished(&d.st) == 0);
    }
    // Random damage to a real stream never crashes and never makes up text.
    response spec;
    spec.text = sample_texts()[3];
    spec.tool_calls = weather_calls;
    spec.max_payload = 150;
    const auto messages = bridge_messages("r1", spec);
    std::mt19937 rng(7);
    for (int round = 0; round < 300; ++round) {
        device d("r1", 64 + rng() % 512);
        for (auto m : messages) {
            if (rng() % 3 == 0) {
                m[rng() % m.size()] = static_cast<char>(rng() % 256);
            }
            d.feed(m);
        }
        CHECK(d.r.text.size() <= spec.text.size() + 16);
    }
}
