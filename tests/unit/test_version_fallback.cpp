// The MQTT version a client offers a broker, and when it falls back from 5 to 3.1.1.
#include <doctest/doctest.h>

#include "protocol/version_fallback.hpp"

namespace p = llmb::protocol;
using f = p::connect_failure;
using step = p::version_picker::step;

TEST_CASE("classify_connect_failure: the version refusals and a close before CONNACK") {
    CHECK(p::classify_connect_failure(1, "CONNACK return code") == f::version_refused);
    CHECK(p::classify_connect_failure(0x84, "CONNACK return code") == f::version_refused);
    CHECK(p::classify_connect_failure(-1, "TCP connect completion failure") ==
          f::closed_before_connack);
    // Nobody listening, a broker that never answers, TLS, other CONNACK codes.
    CHECK(p::classify_connect_failure(-1, "TCP/TLS connect failure") == f::other);
    CHECK(p::classify_connect_failure(-1, "TCP connect timeout") == f::other);
    CHECK(p::classify_connect_failure(-1, "socket error") == f::other);
    CHECK(p::classify_connect_failure(-1, "") == f::other);
    CHECK(p::classify_connect_failure(4, "CONNACK return code") == f::other);
    CHECK(p::classify_connect_failure(5, "CONNACK return code") == f::other);
    CHECK(p::classify_connect_failure(0x86, "CONNACK return code") == f::other);
    CHECK(p::classify_connect_failure(0x87, "CONNACK return code") == f::other);
}

TEST_CASE("version_picker: a CONNACK refusal falls back at once and for good") {
    p::version_picker v(p::version_choice::automatic);
    CHECK(v.current() == p::mqtt_version::v5);
    CHECK(v.on_failure(f::version_refused) == step::fall_back);
    CHECK(v.current() == p::mqtt_version::v3_1_1);
    CHECK(v.fell_back());
    // The broker going away later changes nothing.
    CHECK(v.on_failure(f::other) == step::retry);
    CHECK(v.on_failure(f::closed_before_connack) == step::retry);
    CHECK(v.current() == p::mqtt_version::v3_1_1);
}

TEST_CASE("version_picker: two closes before CONNACK in a row fall back; one does not") {
    p::version_picker v(p::version_choice::automatic);
    CHECK(v.on_failure(f::closed_before_connack) == step::retry);
    CHECK(v.current() == p::mqtt_version::v5);
    // A refused TCP connect in between (a restarting broker) starts the count again.
    CHECK(v.on_failure(f::other) == step::retry);
    CHECK(v.on_failure(f::closed_before_connack) == step::retry);
    CHECK(v.current() == p::mqtt_version::v5);
    CHECK(v.on_failure(f::closed_before_connack) == step::fall_back);
    CHECK(v.current() == p::mqtt_version::v3_1_1);
    // 3.1.1 connects: kept from now on.
    v.on_connected();
    CHECK(v.on_failure(f::closed_before_connack) == step::retry);
    CHECK(v.on_failure(f::other) == step::retry);
    CHECK(v.current() == p::mqtt_version::v3_1_1);
    CHECK(v.fell_back());
}

TEST_CASE("version_picker: a fallback on closes whose 3.1.1 attempt fails goes back to 5") {
    p::version_picker v(p::version_choice::automatic);
    CHECK(v.on_failure(f::closed_before_connack) == step::retry);
    CHECK(v.on_failure(f::closed_before_connack) == step::fall_back);
    CHECK(v.on_failure(f::closed_before_connack) == step::go_back);
    CHECK(v.current() == p::mqtt_version::v5);
    CHECK_FALSE(v.fell_back());
    // And counts from zero again.
    CHECK(v.on_failure(f::closed_before_connack) == step::retry);
    CHECK(v.current() == p::mqtt_version::v5);
}

TEST_CASE("version_picker: explicit versions never change") {
    p::version_picker five(p::version_choice::v5);
    CHECK(five.on_failure(f::version_refused) == step::retry);
    CHECK(five.on_failure(f::closed_before_connack) == step::retry);
    CHECK(five.on_failure(f::closed_before_connack) == step::retry);
    CHECK(five.current() == p::mqtt_version::v5);
    CHECK_FALSE(five.fell_back());

    p::version_picker old(p::version_choice::v3_1_1);
    CHECK(old.current() == p::mqtt_version::v3_1_1);
    CHECK(old.on_failure(f::version_refused) == step::retry);
    CHECK(old.current() == p::mqtt_version::v3_1_1);
}

TEST_CASE("version_picker: a broker that took MQTT 5 once is never left for 3.1.1") {
    p::version_picker v(p::version_choice::automatic);
    v.on_connected();
    // Later, e.g. a proxy in front of a restarting broker closes connections before CONNACK.
    for (int i = 0; i < 5; ++i)
        CHECK(v.on_failure(f::closed_before_connack) == step::retry);
    CHECK(v.on_failure(f::version_refused) == step::retry);
    CHECK(v.current() == p::mqtt_version::v5);
    CHECK_FALSE(v.fell_back());
}
