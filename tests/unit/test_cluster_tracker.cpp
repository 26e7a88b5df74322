// The cluster bookkeeping that lets survivors end a dead bridge's requests.
#include <doctest/doctest.h>

#include <string>

#include "daemon/cluster/cluster_tracker.hpp"
#include "protocol/envelope.hpp"

namespace p = llmb::protocol;
using llmb::cluster_tracker;

namespace {

const cluster_tracker::time_point t0{};

std::string start(std::string_view id, std::string_view bridge) {
    return p::encode_start(id, 0, "m", false, std::nullopt, bridge);
}

std::string chunk(std::string_view id, std::uint64_t seq) {
    return p::encode_chunk(id, seq, "x", false);
}

std::string done(std::string_view id, std::uint64_t seq) {
    p::done_info info;
    info.finish_reason = "stop";
    return p::encode_done(id, seq, info);
}

}  // namespace

TEST_CASE("cluster_tracker: the smallest surviving id ends a dead peer's unfinished requests") {
    cluster_tracker a("b0");
    cluster_tracker c("b2");
    for (auto* t : {&a, &c}) {
        t->on_status("b0", true);
        t->on_status("b1", true);
        t->on_status("b2", true);
        t->on_response("llm/response/d1/r1", start("r1", "b1"), "corr", t0);
        t->on_response("llm/response/d1/r1", chunk("r1", 1), "corr", t0);
        t->on_response("llm/response/d1/r1", chunk("r1", 2), "corr", t0);
        t->on_response("llm/response/d2/r2", start("r2", "b1"), "", t0);
        t->on_response("llm/response/d2/r2", done("r2", 1), "", t0);      // finished
        t->on_response("llm/response/d3/r3", start("r3", "b2"), "", t0);  // another owner
        t->on_response("llm/response/d4/r4", start("r4", "b0"), "", t0);
    }
    CHECK(a.peers_online() == 2);  // itself not counted
    CHECK(a.tracked() == 2);       // r1 and r3: its own r4 and the finished r2 are not kept
    CHECK(c.tracked() == 2);       // r1 and r4

    const auto ended = a.on_status("b1", false);
    REQUIRE(ended.size() == 1);
    CHECK(ended[0].owner == "b1");
    CHECK(ended[0].topic == "llm/response/d1/r1");
    CHECK(ended[0].id == "r1");
    CHECK(ended[0].next_seq == 3);
    CHECK(ended[0].correlation == "corr");
    CHECK(ended[0].largest_payload == start("r1", "b1").size());  // the start was the largest
    CHECK(a.tracked() == 1);

    CHECK(c.on_status("b1", false).empty());  // b0 is alive and smaller: b2 only forgets
    CHECK(c.tracked() == 1);

    // With b0 gone too, b2 is the one to end b0's requests.
    const auto by_c = c.on_status("b0", false);
    REQUIRE(by_c.size() == 1);
    CHECK(by_c[0].id == "r4");
    CHECK(by_c[0].next_seq == 1);
}

TEST_CASE("cluster_tracker: streams with one topic are told apart by id; out-of-order seqs") {
    cluster_tracker t("a");
    t.on_status("b", true);
    const std::string topic = "llm/response/d1/answers";  // a v5 Response Topic for every request
    t.on_response(topic, start("r1", "b"), "c1", t0);
    t.on_response(topic, start("r2", "b"), "c2", t0);
    t.on_response(topic, chunk("r1", 5), "c1", t0);
    t.on_response(topic, chunk("r1", 4), "c1", t0);  // late duplicate or reordered
    t.on_response(topic, chunk("r2", 1), "c2", t0);
    t.on_response(topic, "not an event", "", t0);
    t.on_response(topic, chunk("unknown", 9), "", t0);
    const auto ended = t.on_status("b", false);
    REQUIRE(ended.size() == 2);
    CHECK(ended[0].id == "r1");
    CHECK(ended[0].next_seq == 6);
    CHECK(ended[0].correlation == "c1");
    CHECK(ended[1].id == "r2");
    CHECK(ended[1].next_seq == 2);
}

TEST_CASE("cluster_tracker: own status, starts without a bridge, prune and a last frag") {
    cluster_tracker t("a");
    CHECK(t.on_status("a", false).empty());
    t.on_response("x/r0", start("r0", ""), "", t0);  // a single bridge's start: not followed
    t.on_response("x/r1", start("r1", "b"), "", t0);
    t.on_response("x/r2", start("r2", "b"), "", t0 + std::chrono::seconds(10));
    CHECK(t.tracked() == 2);
    t.on_response("x/r2", p::encode_frag("r2", 1, "done", 0, 2, "{"), "", t0);
    CHECK(t.tracked() == 2);
    t.on_response("x/r2", p::encode_frag("r2", 2, "done", 1, 2, "}"), "", t0);
    CHECK(t.tracked() == 1);
    t.on_response("x/r3", start("r3", "b"), "", t0 + std::chrono::seconds(10));
    t.prune(t0 + std::chrono::seconds(5));
    CHECK(t.tracked() == 1);
    const auto ended = t.on_status("b", false);  // never seen online: still ended
    REQUIRE(ended.size() == 1);
    CHECK(ended[0].id == "r3");
}
