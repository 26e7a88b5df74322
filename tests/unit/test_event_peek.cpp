// The quick look at events that cluster peers use to follow each other's streams.
#include <doctest/doctest.h>

#include <string>

#include "protocol/envelope.hpp"
#include "protocol/event_peek.hpp"
#include "protocol/packet.hpp"

namespace p = llmb::protocol;

TEST_CASE("peek_event reads id, seq and type of every kind of event the encoders write") {
    // The views point into the event text: keep it alive.
    const std::string start_json =
        p::encode_start("r1", 0, "m\",\"bridge\":\"x", false, std::string("s1"), "b-2");
    const auto start = p::peek_event(start_json);
    REQUIRE(start);
    CHECK(start->id == "r1");
    CHECK(start->seq == 0);
    CHECK(start->type == "start");
    CHECK(start->bridge == "b-2");  // not the look-alike inside the escaped model name
    CHECK_FALSE(start->terminal);

    const std::string plain_json = p::encode_start("r1", 0, "m", true, std::nullopt);
    const auto plain = p::peek_event(plain_json);
    REQUIRE(plain);
    CHECK(plain->bridge.empty());

    const std::string chunk_json = p::encode_chunk("r1", 17, "te\"xt", false);
    const auto chunk = p::peek_event(chunk_json);
    REQUIRE(chunk);
    CHECK(chunk->seq == 17);
    CHECK(chunk->type == "chunk");
    CHECK_FALSE(chunk->terminal);

    p::done_info info;
    info.finish_reason = "stop";
    const std::string done_json = p::encode_done("r1", 18446744073709551ULL, info);
    const auto done = p::peek_event(done_json);
    REQUIRE(done);
    CHECK(done->seq == 18446744073709551ULL);
    CHECK(done->terminal);

    const std::string err_json =
        p::encode_error("r-2", 3, {p::error_code::upstream_error, "boom", std::nullopt});
    const auto err = p::peek_event(err_json);
    REQUIRE(err);
    CHECK(err->id == "r-2");
    CHECK(err->terminal);
}

TEST_CASE("peek_event: only the last frag of a terminal event is terminal") {
    p::done_info info;
    info.finish_reason = "stop";
    const std::string done = p::encode_done("r1", 9, info);
    std::uint64_t seq = 9;
    const auto split = p::split_event("r1", seq, "done", done, 90);
    REQUIRE(split.ok);
    REQUIRE(split.payloads.size() > 2);
    for (std::size_t i = 0; i < split.payloads.size(); ++i) {
        const auto h = p::peek_event(split.payloads[i]);
        REQUIRE(h);
        CHECK(h->type == "frag");
        CHECK(h->seq == 9 + i);
        CHECK(h->terminal == (i + 1 == split.payloads.size()));
    }
    const std::string frag_json = p::encode_frag("r1", 4, "tool_calls", 1, 2, "x");
    const auto chunk_frag = p::peek_event(frag_json);
    REQUIRE(chunk_frag);
    CHECK_FALSE(chunk_frag->terminal);
}

TEST_CASE("peek_event refuses what the bridge does not write") {
    for (const std::string s : {"", "{}", "not json", "{\"seq\":1,\"id\":\"r1\",\"type\":\"done\"}",
                                "{\"id\":\"r1\",\"seq\":-1,\"type\":\"done\"}",
                                "{\"id\":\"r\\\"1\",\"seq\":1,\"type\":\"done\"}",
                                "{\"id\":\"r1\",\"seq\":1,\"type\":\"frag\",\"of\":\"done\"}",
                                "{\"id\":\"r1\",\"seq\":1", "{\"id\":\"r1"}) {
        INFO(s);
        CHECK_FALSE(p::peek_event(s));
    }
}

TEST_CASE("publish_properties_size counts correlation data and message expiry") {
    CHECK(p::publish_properties_size(0, false) == 0);
    CHECK(p::publish_properties_size(0, true) == 5);
    CHECK(p::publish_properties_size(16, false) == 19);
    CHECK(p::publish_properties_size(16, true) == 24);
}
