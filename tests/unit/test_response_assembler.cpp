// Client-side reassembly of a response topic: ordering, duplicates, frags and the invariants.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "protocol/envelope.hpp"
#include "protocol/packet.hpp"
#include "protocol/response_assembler.hpp"

namespace p = llmb::protocol;
using nlohmann::json;

namespace {

constexpr const char* id = "r1";

p::done_info done_for(const std::vector<std::string>& texts) {
    p::done_info info;
    info.finish_reason = "stop";
    info.usage = p::token_usage{9, texts.size()};
    info.chunks = texts.size();
    for (const auto& t : texts) {
        info.bytes += t.size();
    }
    info.duration_ms = 41;
    info.ttft_ms = 12;
    info.tokens_per_second = 48.8;
    return info;
}

// start, one chunk per text, done: the messages of a well-formed stream.
std::vector<std::string> stream_of(const std::vector<std::string>& texts) {
    std::vector<std::string> msgs;
    std::uint64_t seq = 0;
    msgs.push_back(p::encode_start(id, seq++, "qwen", false, std::nullopt));
    for (const auto& t : texts) {
        msgs.push_back(p::encode_chunk(id, seq++, t));
    }
    msgs.push_back(p::encode_done(id, seq, done_for(texts)));
    return msgs;
}

std::vector<json> feed_all(p::response_assembler& a, const std::vector<std::string>& msgs) {
    std::vector<json> out;
    for (const auto& m : msgs) {
        a.feed(m, out);
    }
    return out;
}

std::vector<std::uint64_t> seqs_of(const std::vector<json>& events) {
    std::vector<std::uint64_t> seqs;
    for (const auto& ev : events) {
        seqs.push_back(ev.at("seq").get<std::uint64_t>());
    }
    return seqs;
}

const std::vector<std::string> words = {"Hel", "lo ", "wörld", " 你好", " 🙂", "\"\\\n"};

}  // namespace

TEST_CASE("an in-order stream is delivered event by event") {
    p::response_assembler a;
    const auto msgs = stream_of(words);
    std::vector<json> out;
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        a.feed(msgs[i], out);
        CHECK(out.size() == i + 1);  // nothing is held back
        CHECK(a.finished() == (i + 1 == msgs.size()));
    }
    CHECK(seqs_of(out) == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7});
    CHECK(out.front().at("type") == "start");
    CHECK(out.back().at("type") == "done");
    CHECK(a.text() == "Hello wörld 你好 🙂\"\\\n");
    CHECK(a.chunks() == words.size());
    CHECK(a.violations().empty());
    CHECK(a.missing() == 0);
    CHECK(a.duplicates() == 0);
}

TEST_CASE("reasoning chunks are kept apart from the text") {
    p::response_assembler a;
    std::vector<json> out;
    a.feed(p::encode_start(id, 0, "m", false, std::nullopt), out);
    a.feed(p::encode_chunk(id, 1, "thinking", true), out);
    a.feed(p::encode_chunk(id, 2, "answer"), out);
    p::done_info info = done_for({"answer"});
    info.chunks = 2;  // reasoning chunks count as chunks, not as bytes
    a.feed(p::encode_done(id, 3, info), out);
    CHECK(a.reasoning() == "thinking");
    CHECK(a.text() == "answer");
    CHECK(a.chunks() == 2);
    CHECK(a.finished());
    CHECK(a.violations().empty());
}

TEST_CASE("messages out of order are held until the gap before them fills") {
    const auto msgs = stream_of(words);
    std::vector<std::string> shuffled = msgs;
    std::mt19937 rng(7);
    for (int round = 0; round < 20; ++round) {
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        p::response_assembler a;
        const auto out = feed_all(a, shuffled);
        CHECK(seqs_of(out) == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7});
        CHECK(a.text() == "Hello wörld 你好 🙂\"\\\n");
        CHECK(a.finished());
        CHECK(a.violations().empty());
        CHECK(a.missing() == 0);
    }
}

TEST_CASE("missing counts the gaps below the highest seq seen") {
    const auto msgs = stream_of(words);  // seqs 0..7
    p::response_assembler a;
    std::vector<json> out;
    a.feed(msgs[4], out);
    CHECK(out.empty());
    CHECK(a.missing() == 4);  // 0..3
    a.feed(msgs[0], out);
    a.feed(msgs[2], out);
    CHECK(seqs_of(out) == std::vector<std::uint64_t>{0});
    CHECK(a.missing() == 2);  // 1 and 3
    a.feed(msgs[1], out);
    CHECK(seqs_of(out) == std::vector<std::uint64_t>{0, 1, 2});
    CHECK(a.missing() == 1);  // 3
    a.feed(msgs[7], out);
    CHECK(a.missing() == 3);  // 3, 5, 6
    CHECK_FALSE(a.finished());
    a.feed(msgs[3], out);
    a.feed(msgs[6], out);
    a.feed(msgs[5], out);
    CHECK(a.missing() == 0);
    CHECK(a.finished());
    CHECK(seqs_of(out) == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("duplicates are counted and dropped") {
    const auto msgs = stream_of(words);
    p::response_assembler a;
    std::vector<json> out;
    a.feed(msgs[0], out);
    a.feed(msgs[0], out);  // delivered already
    a.feed(msgs[3], out);
    a.feed(msgs[3], out);  // still pending
    a.feed(msgs[1], out);
    a.feed(msgs[2], out);
    a.feed(msgs[1], out);
    CHECK(a.duplicates() == 3);
    for (std::size_t i = 4; i < msgs.size(); ++i) {
        a.feed(msgs[i], out);
        a.feed(msgs[i], out);  // after the done too
    }
    CHECK(a.duplicates() == 3 + msgs.size() - 4);
    CHECK(seqs_of(out) == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7});
    CHECK(a.text() == "Hello wörld 你好 🙂\"\\\n");
    CHECK(a.violations().empty());
}

TEST_CASE("frags are joined into the event they carry") {
    // A tool_calls event too large for one packet, between a chunk and the done.
    json calls = json::array();
    for (int i = 0; i < 6; ++i) {
        calls.push_back(
            {{"id", "call_" + std::to_string(i)},
             {"type", "function"},
             {"function",
              {{"name", "search"},
               {"arguments", "{\"query\":\"größe 大小 " + std::to_string(i) + "\"}"}}}});
    }
    std::vector<std::string> msgs;
    std::uint64_t seq = 0;
    msgs.push_back(p::encode_start(id, seq++, "qwen", true, std::nullopt));
    msgs.push_back(p::encode_chunk(id, seq++, "ok"));
    const std::uint64_t tool_seq = seq;
    const std::string event = p::encode_tool_calls(id, seq, calls.dump());
    const auto split = p::split_event(id, seq, "tool_calls", event, 120);
    REQUIRE(split.ok);
    REQUIRE(split.payloads.size() > 3);
    msgs.insert(msgs.end(), split.payloads.begin(), split.payloads.end());
    p::done_info info = done_for({"ok"});
    info.finish_reason = "tool_calls";
    msgs.push_back(p::encode_done(id, seq, info));
    const std::uint64_t done_seq = seq;

    SUBCASE("in order") {
        p::response_assembler a;
        const auto out = feed_all(a, msgs);
        REQUIRE(out.size() == 4);
        CHECK(seqs_of(out) == std::vector<std::uint64_t>{0, 1, tool_seq, done_seq});
        CHECK(out[2] == json::parse(event));
        CHECK(out[2].at("tool_calls") == calls);
        CHECK(a.finished());
        CHECK(a.violations().empty());
    }
    SUBCASE("shuffled and duplicated") {
        std::vector<std::string> mixed = msgs;
        mixed.insert(mixed.end(), split.payloads.begin(), split.payloads.end());
        std::mt19937 rng(11);
        std::shuffle(mixed.begin(), mixed.end(), rng);
        p::response_assembler a;
        const auto out = feed_all(a, mixed);
        REQUIRE(out.size() == 4);
        CHECK(out[2] == json::parse(event));
        CHECK(a.duplicates() == split.payloads.size());
        CHECK(a.violations().empty());
    }
    SUBCASE("a frag left out stalls the stream") {
        std::vector<std::string> lossy = msgs;
        lossy.erase(lossy.begin() + 3);  // the second frag
        p::response_assembler a;
        const auto out = feed_all(a, lossy);
        CHECK(out.size() == 2);
        CHECK_FALSE(a.finished());
        CHECK(a.missing() == 1);
    }
}

TEST_CASE("a terminal event can itself arrive in frags") {
    p::error err{p::error_code::upstream_error, std::string(300, 'x'), std::nullopt};
    std::uint64_t seq = 1;
    const std::string event = p::encode_error(id, seq, err);
    const auto split = p::split_event(id, seq, "error", event, 120);
    REQUIRE(split.payloads.size() > 1);
    p::response_assembler a;
    std::vector<json> out;
    a.feed(p::encode_start(id, 0, "m", false, std::nullopt), out);
    for (const auto& m : split.payloads) {
        CHECK_FALSE(a.finished());
        a.feed(m, out);
    }
    CHECK(a.finished());
    REQUIRE(out.size() == 2);
    CHECK(out[1].at("type") == "error");
    CHECK(out[1].at("seq") == 1);
    CHECK(out[1].at("message") == err.message);
    CHECK(a.violations().empty());
}

TEST_CASE("broken frag sequences are violations") {
    const std::string event = p::encode_error(
        id, 1, p::error{p::error_code::internal, std::string(200, 'y'), std::nullopt});
    const std::string a_part = event.substr(0, 100);
    const std::string b_part = event.substr(100);
    p::response_assembler a;
    std::vector<json> out;
    a.feed(p::encode_start(id, 0, "m", false, std::nullopt), out);

    SUBCASE("parts disagree") {
        a.feed(p::encode_frag(id, 1, "error", 0, 2, a_part), out);
        a.feed(p::encode_frag(id, 2, "error", 1, 3, b_part), out);
        CHECK(a.violations().size() == 1);
        CHECK_FALSE(a.finished());
    }
    SUBCASE("of disagrees") {
        a.feed(p::encode_frag(id, 1, "error", 0, 2, a_part), out);
        a.feed(p::encode_frag(id, 2, "done", 1, 2, b_part), out);
        CHECK(a.violations().size() == 1);
        CHECK_FALSE(a.finished());
    }
    SUBCASE("a part is skipped") {
        a.feed(p::encode_frag(id, 1, "error", 0, 3, a_part), out);
        a.feed(p::encode_frag(id, 2, "error", 2, 3, b_part), out);
        CHECK(a.violations().size() == 1);
    }
    SUBCASE("another event interrupts the frags") {
        a.feed(p::encode_frag(id, 1, "error", 0, 2, a_part), out);
        a.feed(p::encode_chunk(id, 2, "x"), out);
        CHECK(a.violations().size() == 1);
        CHECK(a.text() == "x");  // the interrupting event still counts
    }
    SUBCASE("the joined event names another type") {
        a.feed(p::encode_frag(id, 1, "done", 0, 2, a_part), out);
        a.feed(p::encode_frag(id, 2, "done", 1, 2, b_part), out);
        CHECK(a.violations().size() == 1);
        CHECK_FALSE(a.finished());
    }
    SUBCASE("the joined event carries another seq than its first frag") {
        const std::string wrong = p::encode_error(
            id, 5, p::error{p::error_code::internal, std::string(200, 'y'), std::nullopt});
        a.feed(p::encode_frag(id, 1, "error", 0, 2, wrong.substr(0, 100)), out);
        a.feed(p::encode_frag(id, 2, "error", 1, 2, wrong.substr(100)), out);
        CHECK(a.violations().size() == 1);
        CHECK(a.finished());
        CHECK(out.back().at("seq") == 1);
    }
    SUBCASE("the joined data is not JSON") {
        a.feed(p::encode_frag(id, 1, "error", 0, 2, a_part), out);
        a.feed(p::encode_frag(id, 2, "error", 1, 2, b_part.substr(0, 10)), out);
        CHECK(a.violations().size() == 1);
        CHECK_FALSE(a.finished());
    }
    SUBCASE("well-formed frags of the same parts are fine") {
        a.feed(p::encode_frag(id, 1, "error", 0, 2, a_part), out);
        a.feed(p::encode_frag(id, 2, "error", 1, 2, b_part), out);
        CHECK(a.violations().empty());
        CHECK(a.finished());
    }
}

TEST_CASE("a done that disagrees with what arrived is a violation") {
    std::vector<std::string> msgs = stream_of(words);
    p::done_info info = done_for(words);

    SUBCASE("bytes") {
        info.bytes -= 1;
        msgs.back() = p::encode_done(id, words.size() + 1, info);
        p::response_assembler a;
        const auto out = feed_all(a, msgs);
        REQUIRE(a.violations().size() == 1);
        CHECK(a.violations()[0].find("bytes") != std::string::npos);
        CHECK(a.finished());
        CHECK(out.back().at("type") == "done");  // still delivered, for the summary
    }
    SUBCASE("chunks") {
        info.chunks += 1;
        msgs.back() = p::encode_done(id, words.size() + 1, info);
        p::response_assembler a;
        feed_all(a, msgs);
        REQUIRE(a.violations().size() == 1);
        CHECK(a.violations()[0].find("chunks") != std::string::npos);
    }
    SUBCASE("a chunk lost and the seqs renumbered") {
        std::vector<std::string> fewer = words;
        fewer.erase(fewer.begin() + 1);
        msgs = stream_of(fewer);
        msgs.back() = p::encode_done(id, fewer.size() + 1, info);  // the done of all the words
        p::response_assembler a;
        feed_all(a, msgs);
        CHECK(a.violations().size() == 2);  // chunks and bytes both disagree
        CHECK(a.missing() == 0);
    }
}

TEST_CASE("anything after the terminal event is a violation") {
    const auto msgs = stream_of({"a", "b"});  // seqs 0..3, done at 3

    SUBCASE("arriving after it") {
        p::response_assembler a;
        auto out = feed_all(a, msgs);
        a.feed(p::encode_chunk(id, 4, "late"), out);
        a.feed(p::encode_error(id, 5, p::error{}), out);
        CHECK(a.violations().size() == 2);
        CHECK(out.size() == 4);
        CHECK(a.text() == "ab");
    }
    SUBCASE("held early, then released by the terminal") {
        p::response_assembler a;
        std::vector<json> out;
        a.feed(p::encode_chunk(id, 5, "later"), out);
        a.feed(p::encode_chunk(id, 4, "late"), out);
        feed_all(a, msgs);
        CHECK(a.violations().size() == 2);
        CHECK(a.text() == "ab");
        CHECK(a.missing() == 0);
    }
    SUBCASE("after an error") {
        p::response_assembler a;
        std::vector<json> out;
        a.feed(p::encode_error(id, 0, p::error{p::error_code::bad_request, "no", std::nullopt}),
               out);
        CHECK(a.finished());
        a.feed(p::encode_chunk(id, 1, "x"), out);
        CHECK(a.violations().size() == 1);
        CHECK(out.size() == 1);
    }
}

TEST_CASE("unreadable and foreign messages are violations") {
    p::response_assembler a;
    std::vector<json> out;
    a.feed("not json", out);
    a.feed("[1,2]", out);
    a.feed(R"({"id":"r1","type":"chunk","text":"x"})", out);           // no seq
    a.feed(R"({"id":"r1","seq":-1,"type":"chunk","text":"x"})", out);  // negative seq
    CHECK(a.violations().size() == 4);
    CHECK(out.empty());
    a.feed(p::encode_start(id, 0, "m", false, std::nullopt), out);
    a.feed(p::encode_chunk("other", 1, "x"), out);  // another request's event
    CHECK(a.violations().size() == 5);
    a.feed(R"({"id":"r1","seq":1,"type":"chunk"})", out);  // a chunk without text
    CHECK(a.violations().size() == 6);
    a.feed(R"({"id":"r1","seq":2,"type":"start","model":"m","mode":"stream"})", out);
    CHECK(a.violations().size() == 7);                             // a second start
    a.feed(R"({"id":"r1","seq":3,"type":"novelty","x":1})", out);  // unknown types pass
    CHECK(a.violations().size() == 7);
    CHECK(seqs_of(out) == std::vector<std::uint64_t>{0, 1, 2, 3});
}
