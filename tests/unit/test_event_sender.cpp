// event_sender (daemon/requests/event_sender): numbering, chunk splitting at the packet limit
// with UTF-8 kept whole, frags for other events, MQTT 5 properties and the legacy format,
// driven through a publisher that records what would go to the broker.
#include "daemon/requests/event_sender.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "protocol/envelope.hpp"
#include "protocol/packet.hpp"
#include "recording_publisher.hpp"

namespace {

using json = nlohmann::json;
using llmb::protocol::mqtt_version;

using llmb::test::recording_publisher;

using llmb::test::events_topic;
using llmb::test::make_sender;
using llmb::test::text_topic;

bool send_start(llmb::event_sender& s) {
    return s.send("start", [](std::uint64_t seq) {
        return llmb::protocol::encode_start("r7", seq, "m", false, std::nullopt, std::string());
    });
}

// Text in several scripts: 1-, 2-, 3- and 4-byte UTF-8 characters.
std::string mixed_text() {
    std::string t;
    for (int i = 0; i < 40; ++i)
        t += "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x99\x82 ";  // a é € 🙂
    return t;
}

}  // namespace

TEST_CASE("event_sender: events are numbered from 0 without gaps") {
    recording_publisher pub;
    auto s = make_sender(pub, 64 * 1024);
    std::uint64_t chunks = 0;
    REQUIRE(send_start(s));
    REQUIRE(s.send_text("Hello", false, chunks));
    REQUIRE(s.send_text("think", true, chunks));
    llmb::protocol::done_info info;
    info.finish_reason = "stop";
    REQUIRE(s.send(
        "done", [&](std::uint64_t seq) { return llmb::protocol::encode_done("r7", seq, info); }));
    REQUIRE(pub.messages.size() == 4);
    const char* types[] = {"start", "chunk", "chunk", "done"};
    for (std::size_t i = 0; i < pub.messages.size(); ++i) {
        const auto j = json::parse(pub.messages[i].payload);
        CHECK(j["seq"] == i);
        CHECK(j["type"] == types[i]);
        CHECK(j["id"] == "r7");
        CHECK(pub.messages[i].topic == events_topic);
        CHECK(pub.messages[i].qos == 1);
    }
    CHECK(chunks == 2);
    CHECK(json::parse(pub.messages[1].payload)["text"] == "Hello");
    CHECK(json::parse(pub.messages[2].payload)["reasoning"] == "think");
}

TEST_CASE("event_sender: text becomes several chunks at the packet limit, characters whole") {
    recording_publisher pub;
    const std::size_t limit = 140;
    auto s = make_sender(pub, limit);
    REQUIRE(s.feasible());
    const std::string text = mixed_text();
    std::uint64_t chunks = 0;
    REQUIRE(s.send_text(text, false, chunks));
    REQUIRE(pub.messages.size() > 5);
    CHECK(chunks == pub.messages.size());
    std::string joined;
    std::uint64_t seq = 0;
    for (const auto& m : pub.messages) {
        CHECK(pub.packet_size(m) <= limit);
        const auto j = json::parse(m.payload);  // throws on a character cut in two
        CHECK(j["type"] == "chunk");
        CHECK(j["seq"] == seq++);
        const auto piece = j["text"].get<std::string>();
        CHECK_FALSE(piece.empty());
        joined += piece;
    }
    CHECK(joined == text);
    // The next event takes the seq after the last chunk.
    REQUIRE(send_start(s));
    CHECK(json::parse(pub.messages.back().payload)["seq"] == seq);
}

TEST_CASE("event_sender: the broker's and the request's limits count, the smallest wins") {
    recording_publisher pub;
    auto s = llmb::event_sender(pub, 1, events_topic, std::string(), "r7", 500, 2000);
    CHECK(s.limit() == 500);
    pub.broker_limit = 300;
    CHECK(s.limit() == 300);
    pub.broker_limit = 4000;
    CHECK(s.limit() == 500);
    auto no_request_limit = make_sender(pub, 2000);
    CHECK(no_request_limit.limit() == 2000);
}

TEST_CASE("event_sender: the raw text topic gets the same slices, within its own limit") {
    recording_publisher pub;
    auto s = make_sender(pub, 150, text_topic);
    s.set_properties("corr-1", 30);
    const std::string text = mixed_text();
    std::uint64_t chunks = 0;
    REQUIRE(s.send_text(text, false, chunks));
    REQUIRE(s.send_text("hidden thoughts", true, chunks));
    const auto events = pub.on(events_topic);
    const auto raw = pub.on(text_topic);
    REQUIRE(events.size() == raw.size() + 1);  // reasoning goes to the events only
    std::string joined;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        CHECK(pub.packet_size(raw[i]) <= 150);
        CHECK(raw[i].payload == json::parse(events[i].payload)["text"].get<std::string>());
        REQUIRE(raw[i].props);
        CHECK(raw[i].props->expiry_s == 30);
        CHECK(raw[i].props->correlation.empty());
        REQUIRE(events[i].props);
        CHECK(events[i].props->correlation == "corr-1");
        CHECK(events[i].props->expiry_s == 30);
        joined += raw[i].payload;
    }
    CHECK(joined == text);
}

TEST_CASE("event_sender: the raw text goes at its own QoS") {
    recording_publisher pub;
    const std::size_t limit = 150;
    auto s = make_sender(pub, limit, text_topic);  // events at QoS 1
    s.set_text_qos(0);
    const std::string text = mixed_text();
    std::uint64_t chunks = 0;
    REQUIRE(s.send_text(text, false, chunks));
    const auto raw = pub.on(text_topic);
    REQUIRE(!raw.empty());
    std::string joined;
    for (const auto& m : raw) {
        CHECK(m.qos == 0);
        CHECK(pub.packet_size(m) <= limit);
        joined += m.payload;
    }
    CHECK(joined == text);
    for (const auto& m : pub.on(events_topic))
        CHECK(m.qos == 1);
}

TEST_CASE("event_sender: other events that do not fit go out as frags") {
    recording_publisher pub;
    const std::size_t limit = 160;
    auto s = make_sender(pub, limit);
    s.set_properties("corr-2", 30);
    REQUIRE(send_start(s));
    const std::string calls =
        R"([{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":)"
        R"("{\"city\":\"Z\u00fcrich\",\"unit\":\"celsius\",\"days\":[1,2,3,4,5,6,7]}"}}])";
    std::string inner;
    REQUIRE(s.send("tool_calls", [&](std::uint64_t seq) {
        inner = llmb::protocol::encode_tool_calls("r7", seq, calls);
        return inner;
    }));
    REQUIRE(pub.messages.size() > 2);
    std::string data;
    for (std::size_t i = 1; i < pub.messages.size(); ++i) {
        const auto& m = pub.messages[i];
        CHECK(pub.packet_size(m) <= limit);
        REQUIRE(m.props);
        CHECK(m.props->correlation == "corr-2");
        CHECK(m.props->expiry_s == 0);  // only chunks expire
        const auto j = json::parse(m.payload);
        CHECK(j["type"] == "frag");
        CHECK(j["of"] == "tool_calls");
        CHECK(j["seq"] == i);
        CHECK(j["part"] == i - 1);
        CHECK(j["parts"] == pub.messages.size() - 1);
        data += j["data"].get<std::string>();
    }
    CHECK(data == inner);
    CHECK(json::parse(inner)["seq"] == 1);  // the event carries the seq of its first frag
}

TEST_CASE("event_sender: a limit too small for the request is refused, not overrun") {
    recording_publisher pub;
    auto s = make_sender(pub, 40);
    CHECK_FALSE(s.feasible());
    std::uint64_t chunks = 0;
    CHECK_FALSE(s.send_text("Hello", false, chunks));
    CHECK_FALSE(send_start(s));
    CHECK(pub.messages.empty());
    CHECK(chunks == 0);
}

TEST_CASE("event_sender: a lone error takes the given seq, and the device's limit only if it can") {
    recording_publisher pub;
    const llmb::protocol::error err{llmb::protocol::error_code::overloaded, "too busy", 1000};
    REQUIRE(llmb::event_sender::send_lone_error(pub, 1, events_topic, "r7", 9, err, "c", 0, 4096));
    REQUIRE(pub.messages.size() == 1);
    auto j = json::parse(pub.messages[0].payload);
    CHECK(j["seq"] == 9);
    CHECK(j["type"] == "error");
    CHECK(j["code"] == "overloaded");
    REQUIRE(pub.messages[0].props);
    CHECK(pub.messages[0].props->correlation == "c");
    // A device limit of 40 bytes cannot carry it: the broker's and the configured limit do.
    REQUIRE(llmb::event_sender::send_lone_error(pub, 1, events_topic, "r7", 3, err, "", 40, 4096));
    REQUIRE(pub.messages.size() == 2);
    CHECK(json::parse(pub.messages[1].payload)["seq"] == 3);
    CHECK_FALSE(llmb::event_sender::send_lone_error(pub, 1, events_topic, "r7", 3, err, "", 0, 20));
}

TEST_CASE("event_sender: keep_in holds every response topic message as sent, by seq") {
    recording_publisher pub;
    llmb::replay_store store(llmb::replay_limits{1u << 20, 1u << 20, std::chrono::seconds(60)});
    auto s = make_sender(pub, 160, text_topic);
    s.set_properties("corr", 30);
    s.keep_in(store, "k");
    REQUIRE(send_start(s));
    std::uint64_t chunks = 0;
    REQUIRE(s.send_text(mixed_text() + mixed_text(), false, chunks));
    REQUIRE(chunks > 1);
    REQUIRE(s.send("tool_calls", [](std::uint64_t seq) {
        return llmb::protocol::encode_tool_calls(
            "r7", seq,
            R"([{"id":"call_1","type":"function","function":{"name":"get_weather",)"
            R"("arguments":"{\"city\":\"Paris\",\"days\":[1,2,3,4,5,6,7]}"}}])");
    }));
    REQUIRE(s.send_error({llmb::protocol::error_code::internal, "x", std::nullopt}));
    const auto events = pub.on(events_topic);
    REQUIRE(events.size() > chunks + 3);  // the tool_calls went out as frags
    const auto held = store.find("k", 0, {});
    CHECK(held.topic == events_topic);
    CHECK(held.correlation == "corr");
    REQUIRE(held.payloads.size() == events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        CHECK(held.payloads[i] == events[i].payload);
        CHECK(json::parse(held.payloads[i])["seq"] == i);
    }
    // The raw text is not held: only response topic payloads count.
    std::size_t bytes = 0;
    for (const auto& m : events)
        bytes += m.payload.size();
    CHECK(store.bytes() == bytes);
    CHECK(store.find("k", 2, {}).payloads.size() == events.size() - 2);

    // A lone error is held as a request of its own.
    REQUIRE(llmb::event_sender::send_lone_error(pub, 1, events_topic, "r8", 0,
                                                {llmb::protocol::error_code::bad_request, "no", {}},
                                                "", 0, 4096, &store, "k8"));
    const auto lone = store.find("k8", 0, {});
    REQUIRE(lone.payloads.size() == 1);
    CHECK(lone.payloads[0] == pub.messages.back().payload);
}

TEST_CASE("event_sender: legacy sends the gathered answer once, or Error: ...") {
    recording_publisher pub;
    auto s = llmb::event_sender::legacy(pub, 1, "reply/dev1", "r7", 64 * 1024);
    std::uint64_t chunks = 0;
    REQUIRE(send_start(s));
    REQUIRE(s.send_text("Hello, ", false, chunks));
    REQUIRE(s.send_text("pondering", true, chunks));
    REQUIRE(s.send_text("world", false, chunks));
    CHECK(pub.messages.empty());
    REQUIRE(s.send("done", [](std::uint64_t) { return std::string("unused"); }));
    REQUIRE(pub.messages.size() == 1);
    CHECK(pub.messages[0].topic == "reply/dev1");
    CHECK(pub.messages[0].payload == "Hello, world");

    auto e = llmb::event_sender::legacy(pub, 1, "reply/dev1", "r8", 64 * 1024);
    REQUIRE(e.send_error({llmb::protocol::error_code::upstream_timeout, "too slow", std::nullopt}));
    CHECK(pub.messages.back().payload == "Error: too slow");

    // An answer larger than one message: an error in its place.
    auto big = llmb::event_sender::legacy(pub, 1, "reply/dev1", "r9", 200);
    REQUIRE(big.send_text(std::string(500, 'x'), false, chunks));
    REQUIRE(big.send("done", [](std::uint64_t) { return std::string(); }));
    CHECK(pub.messages.back().payload.rfind("Error: the answer is larger", 0) == 0);
    CHECK(pub.messages.size() == 3);
}
