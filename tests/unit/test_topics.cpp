// Topic names: prefix rules, classification of inbound topics, builders.
#include <doctest/doctest.h>

#include <string>

#include "protocol/topics.hpp"

namespace p = llmb::protocol;

TEST_CASE("valid_prefix: levels of [A-Za-z0-9_.-]{1,64}, no wildcards or empty levels") {
    CHECK(p::valid_prefix("llm"));
    CHECK(p::valid_prefix("maze"));
    CHECK(p::valid_prefix("site-1/llm.v1"));
    CHECK(p::valid_prefix("a/b/c"));
    CHECK(p::valid_prefix(std::string(64, 'p')));
    CHECK_FALSE(p::valid_prefix(""));
    CHECK_FALSE(p::valid_prefix(std::string(65, 'p')));
    CHECK_FALSE(p::valid_prefix("/llm"));
    CHECK_FALSE(p::valid_prefix("llm/"));
    CHECK_FALSE(p::valid_prefix("a//b"));
    CHECK_FALSE(p::valid_prefix("$SYS"));
    CHECK_FALSE(p::valid_prefix("llm/+"));
    CHECK_FALSE(p::valid_prefix("llm/#"));
    CHECK_FALSE(p::valid_prefix("l+m"));
    CHECK_FALSE(p::valid_prefix("my llm"));
}

TEST_CASE("parse_inbound classifies request, cancel and session topics") {
    auto t = p::parse_inbound("llm/request/dev1", "llm");
    REQUIRE(t.has_value());
    CHECK(t->kind == p::inbound_kind::request);
    CHECK(t->prefix == "llm");
    CHECK(t->client == "dev1");

    t = p::parse_inbound("llm/cancel/dev-2", "llm");
    REQUIRE(t.has_value());
    CHECK(t->kind == p::inbound_kind::cancel);
    CHECK(t->client == "dev-2");

    t = p::parse_inbound("llm/session/d.3", "llm");
    REQUIRE(t.has_value());
    CHECK(t->kind == p::inbound_kind::session);
    CHECK(t->client == "d.3");

    t = p::parse_inbound("site/maze/resume/kiosk_7", "site/maze");
    REQUIRE(t.has_value());
    CHECK(t->kind == p::inbound_kind::resume);
    CHECK(t->client == "kiosk_7");
    CHECK_FALSE(p::parse_inbound("llm/resume/dev1/extra", "llm").has_value());
    CHECK_FALSE(p::parse_inbound("llm/resume/+", "llm").has_value());
    CHECK_FALSE(p::parse_inbound("llm/resume/", "llm").has_value());
    CHECK_FALSE(p::parse_inbound("maze/resume/dev1", "llm").has_value());

    t = p::parse_inbound("site/maze/request/kiosk_7", "site/maze");
    REQUIRE(t.has_value());
    CHECK(t->kind == p::inbound_kind::request);
    CHECK(t->prefix == "site/maze");
    CHECK(t->client == "kiosk_7");

    // The client segment comes back raw; the caller checks it with valid_name.
    t = p::parse_inbound("llm/request/dev 1", "llm");
    REQUIRE(t.has_value());
    CHECK(t->client == "dev 1");
}

TEST_CASE("parse_inbound rejects other topics") {
    const char* const others[] = {
        "llm/request",
        "llm/request/",
        "llm/request/a/b",
        "llm/request/+",
        "llm/request/#",
        "llm/request/a+",
        "llm/response/dev1/r1",
        "llm/text/dev1/r1",
        "llm/status",
        "llm/unknown/dev1",
        "llm//dev1",
        "llmx/request/dev1",
        "ll/request/dev1",
        "maze/request/dev1",
        "/llm/request/dev1",
        "x/llm/request/dev1",
        "llm",
        "",
        "llm/requests/dev1",
        "llm/Request/dev1",
    };
    for (const char* topic : others) {
        INFO("topic: " << topic);
        CHECK_FALSE(p::parse_inbound(topic, "llm").has_value());
    }
    // A multi-level prefix must match whole levels.
    CHECK_FALSE(p::parse_inbound("site/maze/request/dev1", "site").has_value());
    CHECK_FALSE(p::parse_inbound("site/mazes/request/dev1", "site/maze").has_value());
    // An invalid prefix matches nothing.
    CHECK_FALSE(p::parse_inbound("/request/dev1", "").has_value());
    CHECK_FALSE(p::parse_inbound("+/request/dev1", "+").has_value());
}

TEST_CASE("topic and filter builders") {
    CHECK(p::request_filter("llm") == "llm/request/+");
    CHECK(p::cancel_filter("llm") == "llm/cancel/+");
    CHECK(p::session_filter("site/maze") == "site/maze/session/+");
    CHECK(p::resume_filter("site/maze") == "site/maze/resume/+");
    CHECK(p::response_topic("llm", "dev1", "r1") == "llm/response/dev1/r1");
    CHECK(p::text_topic("llm", "dev1", "r1") == "llm/text/dev1/r1");
    CHECK(p::status_topic("llm") == "llm/status");
    CHECK(p::status_topic("a/b") == "a/b/status");
}

TEST_CASE("built inbound topics parse back to what they were built from") {
    for (const char* prefix : {"llm", "maze", "a/b.c/d-e"}) {
        for (const char* client : {"dev1", "x", "A_b.c-9"}) {
            INFO(prefix << " " << client);
            std::string topic = p::request_filter(prefix);
            topic.replace(topic.size() - 1, 1, client);
            const auto t = p::parse_inbound(topic, prefix);
            REQUIRE(t.has_value());
            CHECK(t->kind == p::inbound_kind::request);
            CHECK(t->prefix == prefix);
            CHECK(t->client == client);
        }
    }
}

TEST_CASE("shared_filter puts a group in front of a filter") {
    CHECK(p::shared_filter("bridges", "llm/request/+") == "$share/bridges/llm/request/+");
}

TEST_CASE("response_topic_allowed: under an allowed prefix, no wildcards, not the prefix alone") {
    const std::vector<std::string> allowed = {"llm/response/", "devices/"};
    CHECK(p::response_topic_allowed("llm/response/dev1/r1", allowed, "dev1"));
    CHECK(p::response_topic_allowed("llm/response/x", allowed, "dev1"));
    CHECK(p::response_topic_allowed("devices/kitchen/answers", allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("llm/response/", allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("llm/request/dev1", allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("llm/responses/x", allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("llm/status", allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("$SYS/broker", allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("llm/response/+/r1", allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("llm/response/#", allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed(std::string("llm/response/a\0b", 16), allowed, "dev1"));
    CHECK_FALSE(
        p::response_topic_allowed("llm/response/" + std::string(65535, 'a'), allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("", allowed, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("llm/response/x", {}, "dev1"));
    CHECK_FALSE(p::response_topic_allowed("anything", {""}, "dev1"));
}

TEST_CASE("response_topic_allowed: {client} confines a Response Topic to the requester's own") {
    const std::vector<std::string> allowed = {p::default_response_prefix("llm")};
    CHECK(allowed.front() == "llm/response/{client}/");
    CHECK(p::response_topic_allowed("llm/response/A/r1", allowed, "A"));
    CHECK(p::response_topic_allowed("llm/response/A/x/y", allowed, "A"));
    CHECK_FALSE(p::response_topic_allowed("llm/response/B/r1", allowed, "A"));
    CHECK_FALSE(p::response_topic_allowed("llm/response/AB/r1", allowed, "A"));
    CHECK_FALSE(p::response_topic_allowed("llm/response/A/", allowed, "A"));
    CHECK_FALSE(p::response_topic_allowed("llm/response/A", allowed, "A"));
    CHECK_FALSE(p::response_topic_allowed("llm/response/x", allowed, "A"));

    const std::vector<std::string> two = {"site/{client}/in/{client}/", "shared/"};
    CHECK(p::response_topic_allowed("site/A/in/A/r", two, "A"));
    CHECK_FALSE(p::response_topic_allowed("site/A/in/B/r", two, "A"));
    CHECK(p::response_topic_allowed("shared/r", two, "A"));
}

TEST_CASE("valid_response_prefix: {client} only as a whole level with more after it") {
    CHECK(p::valid_response_prefix("llm/response/"));
    CHECK(p::valid_response_prefix("devices/"));
    CHECK(p::valid_response_prefix("llm/response/{client}/"));
    CHECK(p::valid_response_prefix("{client}/answers/"));
    CHECK(p::valid_response_prefix("a/{client}/b/{client}/"));
    CHECK_FALSE(p::valid_response_prefix(""));
    CHECK_FALSE(p::valid_response_prefix("llm/+/"));
    CHECK_FALSE(p::valid_response_prefix("llm/#"));
    CHECK_FALSE(p::valid_response_prefix("$SYS/"));
    CHECK_FALSE(p::valid_response_prefix("/llm/"));
    CHECK_FALSE(p::valid_response_prefix("llm/response/{client}"));
    CHECK_FALSE(p::valid_response_prefix("llm/response/x{client}/"));
    CHECK_FALSE(p::valid_response_prefix("llm/response/{client}x/"));
    CHECK_FALSE(p::valid_response_prefix("llm/response/{clinet}/"));
    CHECK_FALSE(p::valid_response_prefix("llm/{client/"));
    CHECK_FALSE(p::valid_response_prefix("llm/client}/"));
}

TEST_CASE("response prefixes with {client}: expanded, as a filter, matched per level") {
    CHECK(p::expand_response_prefix("llm/response/{client}/", "A") == "llm/response/A/");
    CHECK(p::expand_response_prefix("a/{client}/b/{client}/", "x") == "a/x/b/x/");
    CHECK(p::expand_response_prefix("devices/", "A") == "devices/");
    CHECK(p::response_prefix_filter("llm/response/{client}/") == "llm/response/+/#");
    CHECK(p::response_prefix_filter("devices/") == "devices/#");

    CHECK(p::under_response_prefix("llm/response/A/r1", "llm/response/{client}/"));
    CHECK(p::under_response_prefix("llm/response/B/x/y", "llm/response/{client}/"));
    CHECK_FALSE(p::under_response_prefix("llm/response//r1", "llm/response/{client}/"));
    CHECK_FALSE(p::under_response_prefix("llm/response/A", "llm/response/{client}/"));
    CHECK_FALSE(p::under_response_prefix("llm/text/A/r1", "llm/response/{client}/"));
    CHECK(p::under_response_prefix("a/x/b/y/z", "a/{client}/b/{client}/"));
    CHECK_FALSE(p::under_response_prefix("a/x/c/y/z", "a/{client}/b/{client}/"));
    CHECK(p::under_response_prefix("devices/k", "devices/"));
    CHECK_FALSE(p::under_response_prefix("device/k", "devices/"));
}
