// The SSE parser against real llama-server streams, every way they can be cut into reads, and
// against the corner cases of the format.
#include <doctest/doctest.h>

#include "support.hpp"

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/sse.hpp"

using llmb::protocol::sse_event;
using llmb::protocol::sse_parser;

namespace {

using llmb::test::read_transcript;
using llmb::test::transcript_body;

const char* const stream_transcripts[] = {
    "03_chat_stream",       "04_chat_stream_include_usage", "06_max_tokens_5_stream",
    "12_tools_call_stream", "14_tools_two_calls_stream",    "27_server_killed_mid_stream",
};

struct parse_result {
    std::vector<sse_event> events;
    bool failed = false;
    bool partial = false;
};

// Feeds bytes split at the given (ascending) positions.
parse_result parse_cut(std::string_view bytes, const std::vector<std::size_t>& cuts,
                       std::size_t max_event_bytes = 16 * 1024 * 1024) {
    sse_parser parser(max_event_bytes);
    parse_result r;
    std::size_t from = 0;
    for (const std::size_t cut : cuts) {
        parser.feed(bytes.substr(from, cut - from), r.events);
        from = cut;
    }
    const bool ok = parser.feed(bytes.substr(from), r.events);
    r.failed = parser.failed();
    CHECK(ok == !r.failed);
    r.partial = parser.has_partial();
    return r;
}

parse_result parse_whole(std::string_view bytes, std::size_t max_event_bytes = 16 * 1024 * 1024) {
    return parse_cut(bytes, {}, max_event_bytes);
}

parse_result parse_bytewise(std::string_view bytes,
                            std::size_t max_event_bytes = 16 * 1024 * 1024) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < bytes.size(); ++i) {
        cuts.push_back(i);
    }
    return parse_cut(bytes, cuts, max_event_bytes);
}

std::string show(const sse_event& e) {
    return "{event=\"" + e.event + "\" data=\"" + e.data + "\" error=\"" + e.error + "\"}";
}

// Empty when both results are the same, else where they first differ.
std::string difference(const parse_result& a, const parse_result& b) {
    const std::size_t n = std::min(a.events.size(), b.events.size());
    for (std::size_t i = 0; i < n; ++i) {
        const sse_event& x = a.events[i];
        const sse_event& y = b.events[i];
        if (x.event != y.event || x.data != y.data || x.error != y.error) {
            return "event " + std::to_string(i) + ": " + show(x) + " vs " + show(y);
        }
    }
    if (a.events.size() != b.events.size()) {
        return "event count " + std::to_string(a.events.size()) + " vs " +
               std::to_string(b.events.size());
    }
    if (a.failed != b.failed) {
        return "failed differs";
    }
    if (a.partial != b.partial) {
        return "has_partial differs";
    }
    return {};
}

// The "data: " lines of an LF-only body, read line by line without the parser.
std::vector<std::string> data_lines(const std::string& body) {
    std::vector<std::string> out;
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("data: ", 0) == 0) {
            out.push_back(line.substr(6));
        }
    }
    return out;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    std::string out;
    std::size_t pos = 0;
    for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos);
        out.append(to);
    }
    out.append(s, pos);
    return out;
}

}  // namespace

TEST_CASE("sse: every recorded stream gives one event per data line") {
    for (const char* name : stream_transcripts) {
        CAPTURE(name);
        const std::string body = transcript_body(name);
        const std::vector<std::string> expected = data_lines(body);
        REQUIRE(expected.size() > 5);
        const parse_result r = parse_whole(body);
        CHECK_FALSE(r.failed);
        CHECK_FALSE(r.partial);
        REQUIRE(r.events.size() == expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) {
            CHECK(r.events[i].data == expected[i]);
            CHECK(r.events[i].event.empty());
            CHECK(r.events[i].error.empty());
        }
    }
}

TEST_CASE("sse: recorded streams parse the same however the reads are cut") {
    std::mt19937 rng(20240611);
    for (const char* name : stream_transcripts) {
        CAPTURE(name);
        const std::string body = transcript_body(name);
        const parse_result whole = parse_whole(body);
        CHECK(difference(whole, parse_bytewise(body)) == "");
        for (std::size_t cut = 0; cut <= body.size(); ++cut) {
            const parse_result two = parse_cut(body, {cut});
            if (const std::string diff = difference(whole, two); !diff.empty()) {
                FAIL("cut at " << cut << ": " << diff);
            }
        }
        std::uniform_int_distribution<std::size_t> pick(0, body.size());
        for (int i = 0; i < 200; ++i) {
            std::vector<std::size_t> cuts{pick(rng), pick(rng)};
            std::sort(cuts.begin(), cuts.end());
            CAPTURE(cuts[0]);
            CAPTURE(cuts[1]);
            CHECK(difference(whole, parse_cut(body, cuts)) == "");
        }
    }
}

TEST_CASE("sse: CRLF and lone CR line ends parse like LF") {
    for (const char* name : stream_transcripts) {
        CAPTURE(name);
        const std::string body = transcript_body(name);
        const parse_result lf = parse_whole(body);
        const std::string crlf = replace_all(body, "\n", "\r\n");
        const std::string cr = replace_all(body, "\n", "\r");
        CHECK(difference(lf, parse_whole(crlf)) == "");
        CHECK(difference(lf, parse_bytewise(crlf)) == "");
        CHECK(difference(lf, parse_whole(cr)) == "");
        CHECK(difference(lf, parse_bytewise(cr)) == "");
    }
    // Every cut of a CRLF stream, including between CR and LF.
    const std::string crlf =
        replace_all(transcript_body("04_chat_stream_include_usage"), "\n", "\r\n");
    const parse_result whole = parse_whole(crlf);
    for (std::size_t cut = 0; cut <= crlf.size(); ++cut) {
        if (const std::string diff = difference(whole, parse_cut(crlf, {cut})); !diff.empty()) {
            FAIL("cut at " << cut << ": " << diff);
        }
    }
}

TEST_CASE("sse: a CR ending one read and an LF starting the next are one line end") {
    sse_parser parser;
    std::vector<sse_event> out;
    CHECK(parser.feed("data: a\r", out));
    CHECK(parser.feed("", out));  // an empty read in between changes nothing
    CHECK(parser.feed("\ndata: b\r", out));
    CHECK(out.empty());
    CHECK(parser.feed("\r", out));  // CR CR: the second ends an empty line
    REQUIRE(out.size() == 1);
    CHECK(out[0].data == "a\nb");
    CHECK_FALSE(parser.has_partial());
}

TEST_CASE("sse: fields, comments and spacing") {
    SUBCASE("comments are ignored, also between data lines") {
        const parse_result r = parse_whole(": ping\n\n:\ndata: a\n: keep-alive\ndata: b\n\n");
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].data == "a\nb");
    }
    SUBCASE("the space after the colon is optional and only one is stripped") {
        const parse_result r = parse_whole("data:x\n\ndata:  two\n\ndata:\n\ndata\n\n");
        REQUIRE(r.events.size() == 4);
        CHECK(r.events[0].data == "x");
        CHECK(r.events[1].data == " two");
        CHECK(r.events[2].data == "");  // present but empty: still an event
        CHECK(r.events[3].data == "");  // a field name alone has an empty value
    }
    SUBCASE("multi-line data keeps inner colons and empty lines") {
        const parse_result r = parse_whole("data: {\"a\":\ndata:\ndata: 1}\n\n");
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].data == "{\"a\":\n\n1}");
    }
    SUBCASE("event names are kept, id and retry ignored, unknown fields ignored") {
        const parse_result r =
            parse_whole("id: 7\nretry: 100\nevent: delta\nfoo: bar\ndata: x\n\ndata: y\n\n");
        REQUIRE(r.events.size() == 2);
        CHECK(r.events[0].event == "delta");
        CHECK(r.events[0].data == "x");
        CHECK(r.events[1].event.empty());  // the name belongs to one event only
    }
    SUBCASE("a blank line without data or error dispatches nothing") {
        const parse_result r = parse_whole("event: lonely\n\n\n\nid: 3\n\ndata: z\n\n");
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].event.empty());
        CHECK(r.events[0].data == "z");
    }
    SUBCASE("old llama.cpp error line, then [DONE]") {
        const parse_result r = parse_whole(
            "error: {\"code\":500,\"message\":\"boom\",\"type\":\"server_error\"}\n\n"
            "data: [DONE]\n\n");
        REQUIRE(r.events.size() == 2);
        CHECK(r.events[0].error == "{\"code\":500,\"message\":\"boom\",\"type\":\"server_error\"}");
        CHECK(r.events[0].data.empty());
        CHECK(r.events[1].data == "[DONE]");
        CHECK(r.events[1].error.empty());
    }
}

TEST_CASE("sse: a UTF-8 BOM is skipped only at the very start") {
    const std::string bom = "\xEF\xBB\xBF";
    const std::string stream = bom + "data: a\n\ndata: " + bom + "b\n\n";
    for (const parse_result& r : {parse_whole(stream), parse_bytewise(stream)}) {
        REQUIRE(r.events.size() == 2);
        CHECK(r.events[0].data == "a");
        CHECK(r.events[1].data == bom + "b");
    }
    // Only the first bytes of a BOM: they are ordinary bytes of the first line.
    const std::string almost =
        "\xEF\xBB"
        "data: a\n\ndata: b\n\n";
    for (const parse_result& r : {parse_whole(almost), parse_bytewise(almost)}) {
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].data == "b");
    }
    sse_parser parser;
    std::vector<sse_event> out;
    parser.feed("\xEF\xBB", out);
    CHECK(parser.has_partial());
    parser.feed("\xBF", out);
    CHECK_FALSE(parser.has_partial());
}

TEST_CASE("sse: has_partial tells whether an event was cut off") {
    sse_parser parser;
    std::vector<sse_event> out;
    CHECK_FALSE(parser.has_partial());
    parser.feed("data: {\"choi", out);
    CHECK(parser.has_partial());
    parser.feed("ces\":[]}\n", out);
    CHECK(parser.has_partial());  // line complete, event not yet
    parser.feed("\n", out);
    CHECK_FALSE(parser.has_partial());
    CHECK(out.size() == 1);
    parser.feed(": ping\n", out);
    CHECK_FALSE(parser.has_partial());
    parser.feed("event: x\n", out);
    CHECK(parser.has_partial());

    // A recorded stream cut inside an event.
    const std::string body = transcript_body("27_server_killed_mid_stream");
    const std::size_t mid = body.find("data: ", body.size() / 2) + 20;
    const parse_result cut = parse_whole(std::string_view(body).substr(0, mid));
    CHECK(cut.partial);
    CHECK_FALSE(cut.failed);
}

TEST_CASE("sse: bounded lines and events") {
    const std::size_t max = 64;
    SUBCASE("an endless line fails and everything after is ignored") {
        const std::string stream = "data: ok\n\n" + std::string(200, 'a') + "\n\ndata: late\n\n";
        for (const parse_result& r : {parse_whole(stream, max), parse_bytewise(stream, max)}) {
            CHECK(r.failed);
            REQUIRE(r.events.size() == 1);
            CHECK(r.events[0].data == "ok");
        }
        sse_parser parser(max);
        std::vector<sse_event> out;
        CHECK_FALSE(parser.feed(std::string(max + 1, 'x'), out));
        CHECK(parser.failed());
        CHECK_FALSE(parser.feed("\n\ndata: more\n\n", out));
        CHECK(out.empty());
    }
    SUBCASE("a line of exactly the limit is fine") {
        const std::string line = "data: " + std::string(max - 6, 'b');
        const parse_result r = parse_whole(line + "\n\n", max);
        CHECK_FALSE(r.failed);
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].data.size() == max - 6);
    }
    SUBCASE("an event name and data that add up past the limit fail") {
        const std::string stream =
            "event: " + std::string(40, 'e') + "\ndata: " + std::string(40, 'd') + "\n\n";
        for (const parse_result& r : {parse_whole(stream, max), parse_bytewise(stream, max)}) {
            CHECK(r.failed);
            CHECK(r.events.empty());
        }
    }
    SUBCASE("many short data lines that add up past the limit fail") {
        std::string stream;
        for (int i = 0; i < 20; ++i) {
            stream += "data: 0123456789\n";
        }
        stream += "\n";
        for (const parse_result& r : {parse_whole(stream, max), parse_bytewise(stream, max)}) {
            CHECK(r.failed);
            CHECK(r.events.empty());
        }
    }
}

TEST_CASE("sse: random byte streams cut at random places parse the same as whole") {
    // Pieces that make the parser take all its paths, mixed with arbitrary bytes.
    const std::vector<std::string> pieces = {
        "data:", "data: ", "error: ", "event: ",   "id: 1",        ":",    " ",      "\r",
        "\n",    "\r\n",   "x",       "{\"a\":1}", "\xEF\xBB\xBF", "\xEF", "[DONE]", "retry"};
    std::mt19937 rng(7);
    for (int round = 0; round < 3000; ++round) {
        std::string stream;
        const std::size_t parts = std::uniform_int_distribution<std::size_t>(0, 60)(rng);
        for (std::size_t i = 0; i < parts; ++i) {
            if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) {
                stream.push_back(
                    static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng)));
            } else {
                stream +=
                    pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
            }
        }
        const std::size_t max = std::uniform_int_distribution<std::size_t>(0, 1)(rng) == 0
                                    ? std::uniform_int_distribution<std::size_t>(1, 40)(rng)
                                    : std::size_t{1} << 20;
        CAPTURE(stream);
        CAPTURE(max);
        parse_result whole;
        CHECK_NOTHROW(whole = parse_whole(stream, max));
        std::vector<std::size_t> cuts;
        const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 6)(rng);
        for (std::size_t i = 0; i < n; ++i) {
            cuts.push_back(std::uniform_int_distribution<std::size_t>(0, stream.size())(rng));
        }
        std::sort(cuts.begin(), cuts.end());
        CHECK(difference(whole, parse_cut(stream, cuts, max)) == "");
        CHECK(difference(whole, parse_bytewise(stream, max)) == "");
    }
}
