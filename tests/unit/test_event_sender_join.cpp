// event_sender (daemon/requests/event_sender) under load: text that comes while the last chunk
// event still waits in the outbox joins it, within the packet limit, under the chunk's own seq;
// its raw text twin joins only while it waits too. Driven through a publisher that records what
// would go to the broker and lets messages wait like a full window.
#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/requests/event_sender.hpp"
#include "daemon/requests/replay_store.hpp"
#include "protocol/envelope.hpp"
#include "protocol/packet.hpp"
#include "recording_publisher.hpp"

namespace {

using json = nlohmann::json;
using llmb::test::recording_publisher;

using llmb::test::events_topic;
using llmb::test::make_sender;
using llmb::test::text_topic;

bool send_status(llmb::event_sender& s) {
    return s.send("status", [](std::uint64_t seq) {
        return llmb::protocol::encode_status_generating("r7", seq);
    });
}

json event(const recording_publisher& pub, std::size_t i) {
    return json::parse(pub.on(events_topic).at(i).payload);
}

}  // namespace

TEST_CASE("event_sender: text joins the last chunk while it waits, not once handed over") {
    recording_publisher pub;
    auto s = make_sender(pub, 64 * 1024, text_topic);
    std::uint64_t chunks = 0;
    REQUIRE(send_status(s));  // seq 0
    pub.window_full = true;
    REQUIRE(s.send_text("Hel", false, chunks));
    REQUIRE(s.send_text("lo", false, chunks));
    REQUIRE(s.send_text(" world", false, chunks));
    REQUIRE(pub.on(events_topic).size() == 2);
    CHECK(event(pub, 1)["seq"] == 1);
    CHECK(event(pub, 1)["text"] == "Hello world");
    CHECK(event(pub, 1) == json::parse(llmb::protocol::encode_chunk("r7", 1, "Hello world")));
    REQUIRE(pub.on(text_topic).size() == 1);
    CHECK(pub.on(text_topic)[0].payload == "Hello world");
    CHECK(chunks == 1);

    pub.hand_over_all();  // the window had room again: both went to the client
    REQUIRE(s.send_text("!", false, chunks));
    REQUIRE(pub.on(events_topic).size() == 3);
    CHECK(event(pub, 1)["text"] == "Hello world");
    CHECK(event(pub, 2)["seq"] == 2);
    CHECK(event(pub, 2)["text"] == "!");
    CHECK(pub.on(text_topic).size() == 2);
    CHECK(chunks == 2);
    REQUIRE(send_status(s));
    CHECK(event(pub, 3)["seq"] == 3);  // the next event takes the next seq
}

TEST_CASE("event_sender: with room in the window every piece is a chunk of its own") {
    recording_publisher pub;
    auto s = make_sender(pub, 64 * 1024, text_topic);
    std::uint64_t chunks = 0;
    for (const char* piece : {"a", "b", "c"})
        REQUIRE(s.send_text(piece, false, chunks));
    CHECK(pub.on(events_topic).size() == 3);
    CHECK(pub.on(text_topic).size() == 3);
    CHECK(chunks == 3);
    CHECK(pub.amends == 0);
}

TEST_CASE("event_sender: nothing joins a chunk across another event") {
    recording_publisher pub;
    pub.window_full = true;
    auto s = make_sender(pub, 64 * 1024);
    std::uint64_t chunks = 0;
    REQUIRE(s.send_text("a", false, chunks));
    REQUIRE(send_status(s));
    REQUIRE(s.send_text("b", false, chunks));
    REQUIRE(pub.messages.size() == 3);
    CHECK(event(pub, 0)["text"] == "a");
    CHECK(event(pub, 2)["text"] == "b");
    CHECK(event(pub, 2)["seq"] == 2);
    CHECK(chunks == 2);
}

TEST_CASE("event_sender: reasoning joins reasoning only, text joins text only") {
    recording_publisher pub;
    pub.window_full = true;
    auto s = make_sender(pub, 64 * 1024, text_topic);
    std::uint64_t chunks = 0;
    REQUIRE(s.send_text("think", true, chunks));
    REQUIRE(s.send_text("ing", true, chunks));
    REQUIRE(s.send_text("Yes", false, chunks));
    REQUIRE(s.send_text("!", false, chunks));
    REQUIRE(s.send_text("more", true, chunks));
    REQUIRE(pub.on(events_topic).size() == 3);
    CHECK(event(pub, 0)["reasoning"] == "thinking");
    CHECK(event(pub, 1)["text"] == "Yes!");
    CHECK(event(pub, 2)["reasoning"] == "more");
    CHECK(event(pub, 2)["seq"] == 2);
    REQUIRE(pub.on(text_topic).size() == 1);  // reasoning has no raw text
    CHECK(pub.on(text_topic)[0].payload == "Yes!");
    CHECK(chunks == 3);
}

TEST_CASE("event_sender: joined chunks fill the packet limit, characters whole") {
    const std::size_t limit = 150;
    std::string text;
    std::vector<std::string> pieces;
    for (int i = 0; i < 40; ++i) {
        for (const char* c : {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x99\x82", "\"", " "}) {
            pieces.emplace_back(c);  // a é € 🙂, a quote (escaped in JSON), a space
            text += c;
        }
    }
    recording_publisher pub;
    pub.window_full = true;
    auto s = make_sender(pub, limit, text_topic);
    s.set_properties("corr", 30);
    std::uint64_t chunks = 0;
    for (const auto& p : pieces)
        REQUIRE(s.send_text(p, false, chunks));
    const auto events = pub.on(events_topic);
    const auto raw = pub.on(text_topic);
    REQUIRE(events.size() == raw.size());
    CHECK(chunks == events.size());
    std::string joined;
    std::string joined_raw;
    for (std::size_t i = 0; i < events.size(); ++i) {
        CHECK(pub.packet_size(events[i]) <= limit);
        CHECK(pub.packet_size(raw[i]) <= limit);
        const auto j = json::parse(events[i].payload);  // throws on a character cut in two
        CHECK(j["seq"] == i);
        joined += j["text"].get<std::string>();
        joined_raw += raw[i].payload;
    }
    CHECK(joined == text);
    CHECK(joined_raw == text);
    // As full as one piece of text split at the limit: joining wastes no room.
    std::uint64_t seq = 0;
    const auto whole = llmb::protocol::split_chunks(
        "r7", seq, text, false,
        llmb::protocol::max_payload(limit, events_topic.size(),
                                    pub.properties_size(*events[0].props), 1, pub.v),
        llmb::protocol::max_payload(limit, text_topic.size(), pub.properties_size(*raw[0].props), 1,
                                    pub.v));
    CHECK(events.size() == whole.payloads.size());
}

TEST_CASE("event_sender: a joined chunk grows to 4 KiB at most, whatever the packet limit") {
    recording_publisher pub;
    pub.window_full = true;
    auto s = make_sender(pub, 1024 * 1024, text_topic);
    std::uint64_t chunks = 0;
    for (int i = 0; i < 10000; ++i)
        REQUIRE(s.send_text("a", false, chunks));
    const auto events = pub.on(events_topic);
    REQUIRE(events.size() == 3);  // about 4,050 bytes of text each, and the rest
    std::string joined;
    for (const auto& e : events) {
        CHECK(e.payload.size() <= 4096);
        joined += json::parse(e.payload)["text"].get<std::string>();
    }
    CHECK(events[0].payload.size() > 4000);
    CHECK(events[1].payload.size() > 4000);
    CHECK(joined == std::string(10000, 'a'));
    CHECK(chunks == 3);
}

TEST_CASE("event_sender: a twin already handed over is not joined; the text goes on its own") {
    recording_publisher pub;
    pub.window_full = true;
    auto s = make_sender(pub, 64 * 1024, text_topic);
    std::uint64_t chunks = 0;
    REQUIRE(s.send_text("Hel", false, chunks));
    pub.taken.insert(pub.last_ticket());  // the twin left before its chunk
    REQUIRE(s.send_text("lo", false, chunks));
    REQUIRE(s.send_text("!", false, chunks));
    REQUIRE(pub.on(events_topic).size() == 1);
    CHECK(event(pub, 0)["text"] == "Hello!");
    const auto raw = pub.on(text_topic);
    REQUIRE(raw.size() == 2);
    CHECK(raw[0].payload == "Hel");
    CHECK(raw[1].payload == "lo!");  // the new twin waits and takes what comes next
    CHECK(chunks == 1);
}

TEST_CASE("event_sender: frags and the legacy format are never amended") {
    recording_publisher pub;
    pub.window_full = true;
    auto s = make_sender(pub, 160);
    std::uint64_t chunks = 0;
    REQUIRE(s.send_text("a", false, chunks));
    REQUIRE(s.send("tool_calls", [](std::uint64_t seq) {
        return llmb::protocol::encode_tool_calls(
            "r7", seq,
            R"([{"id":"call_1","type":"function","function":{"name":"f","arguments":")" +
                std::string(200, 'x') + R"("}}])");
    }));
    const std::size_t frags = pub.messages.size() - 1;
    REQUIRE(frags > 1);
    REQUIRE(s.send_text("b", false, chunks));
    CHECK(pub.amends == 0);
    CHECK(json::parse(pub.messages.back().payload)["seq"] == frags + 1);
    CHECK(json::parse(pub.messages.back().payload)["text"] == "b");

    auto legacy = llmb::event_sender::legacy(pub, 1, "reply/dev1", "r8", 64 * 1024);
    REQUIRE(legacy.send_text("Hello, ", false, chunks));
    REQUIRE(legacy.send_text("world", false, chunks));
    REQUIRE(legacy.send("done", [](std::uint64_t) { return std::string(); }));
    CHECK(pub.messages.back().payload == "Hello, world");
    CHECK(pub.amends == 0);
}

TEST_CASE(
    "event_sender: the replay holds a joined chunk as sent, and a queued replay ends joining") {
    recording_publisher pub;
    llmb::replay_store store({1 << 20, 1 << 20, std::chrono::seconds(60)});
    auto s = make_sender(pub, 64 * 1024, text_topic);
    s.keep_in(store, "k");
    std::uint64_t chunks = 0;
    pub.window_full = true;
    REQUIRE(s.send_text("Hel", false, chunks));  // seq 0
    REQUIRE(s.send_text("lo", false, chunks));   // joins seq 0 while it waits
    const auto now = std::chrono::steady_clock::now();
    auto held = store.find("k", 0, now);
    REQUIRE(held.payloads.size() == 1);
    CHECK(held.payloads[0] == pub.on(events_topic).at(0).payload);
    CHECK(json::parse(held.payloads[0])["text"] == "Hello");

    // A resume queued a copy of seq 0 behind it: the copy must stay what the device keeps under
    // seq 0, so text from now on is a chunk of its own although seq 0 still waits.
    s.stop_joining();
    REQUIRE(s.send_text(" world", false, chunks));
    REQUIRE(pub.on(events_topic).size() == 2);
    CHECK(event(pub, 0)["text"] == "Hello");
    CHECK(event(pub, 1)["seq"] == 1);
    CHECK(event(pub, 1)["text"] == " world");
    held = store.find("k", 0, now);
    REQUIRE(held.payloads.size() == 2);
    CHECK(held.payloads[1] == pub.on(events_topic).at(1).payload);
}
