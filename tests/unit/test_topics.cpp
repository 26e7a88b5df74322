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
    CHECK(p::response_topic_allowed("llm/response/dev1/r1", allowed));
    CHECK(p::response_topic_allowed("llm/response/x", allowed));
    CHECK(p::response_topic_allowed("devices/kitchen/answers", allowed));
    CHECK_FALSE(p::response_topic_allowed("llm/response/", allowed));
    CHECK_FALSE(p::response_topic_allowed("llm/request/dev1", allowed));
    CHECK_FALSE(p::response_topic_allowed("llm/responses/x", allowed));
    CHECK_FALSE(p::response_topic_allowed("llm/status", allowed));
    CHECK_FALSE(p::response_topic_allowed("$SYS/broker", allowed));
    CHECK_FALSE(p::response_topic_allowed("llm/response/+/r1", allowed));
    CHECK_FALSE(p::response_topic_allowed("llm/response/#", allowed));
    CHECK_FALSE(p::response_topic_allowed(std::string("llm/response/a\0b", 16), allowed));
    CHECK_FALSE(p::response_topic_allowed("llm/response/" + std::string(65535, 'a'), allowed));
    CHECK_FALSE(p::response_topic_allowed("", allowed));
    CHECK_FALSE(p::response_topic_allowed("llm/response/x", {}));
    CHECK_FALSE(p::response_topic_allowed("anything", {""}));
}
