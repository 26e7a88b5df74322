// The MQTT outbox (daemon/mqtt/outbox.hpp): the window, acknowledgements, refusals, republishing
// after a lost session, tickets, backlog marks and the packet limit, without a client library.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "daemon/mqtt/outbox.hpp"

using llmb::outbound_message;
using llmb::outbox;
using llmb::protocol::mqtt_version;

namespace {

outbound_message msg(std::string payload, int qos = 1) {
    return outbound_message{"t", std::move(payload), qos, false, {}, 0};
}

// What the link does while the window allows: hands next() over. Returns the payloads handed
// over and their ids (in the same order).
struct handed {
    std::vector<std::string> payloads;
    std::vector<outbox::message_id> ids;
};
handed pump(outbox& o) {
    handed h;
    while (const auto* m = o.next()) {
        h.payloads.push_back(m->payload);
        h.ids.push_back(o.next_id());
        o.hand_over();
    }
    return h;
}

std::vector<std::string> strings(std::initializer_list<const char*> list) {
    return {list.begin(), list.end()};
}

}  // namespace

TEST_CASE("outbox: the window is the broker's Receive Maximum within the limits") {
    outbox o(4096, 1024);
    o.set_receive_maximum(3);
    CHECK(o.window() == 3);
    o.set_receive_maximum(0);  // none announced: what the client library holds
    CHECK(o.window() == 1024);
    outbox small(2, 1024);
    small.set_receive_maximum(65535);
    CHECK(small.window() == 2);
}

TEST_CASE("outbox: the window fills, and each acknowledgement lets one more go") {
    outbox o(4096, 1024);
    o.set_receive_maximum(2);
    for (const char* p : {"a", "b", "c", "d"})
        o.enqueue(msg(p));
    auto first = pump(o);
    CHECK(first.payloads == strings({"a", "b"}));
    CHECK(o.in_flight() == 2);
    CHECK(o.waiting() == 2);
    CHECK(o.next() == nullptr);  // full

    o.acknowledged(first.ids[0]);
    auto second = pump(o);
    CHECK(second.payloads == strings({"c"}));
    CHECK(o.next() == nullptr);
    o.acknowledged(first.ids[1]);
    o.acknowledged(second.ids[0]);
    CHECK(pump(o).payloads == strings({"d"}));
    CHECK(o.in_flight() == 1);
    CHECK(!o.drained());
}

TEST_CASE("outbox: acknowledgements out of order, twice, or for unknown ids") {
    outbox o(4096, 1024);
    o.set_receive_maximum(10);
    for (const char* p : {"a", "b", "c"})
        o.enqueue(msg(p));
    const auto h = pump(o);
    REQUIRE(h.ids.size() == 3);
    CHECK(h.ids[1] == h.ids[0] + 1);
    CHECK(h.ids[2] == h.ids[1] + 1);

    o.acknowledged(h.ids[2]);
    CHECK(o.in_flight() == 2);
    o.acknowledged(h.ids[2]);  // a second report changes nothing
    CHECK(o.in_flight() == 2);
    o.acknowledged(h.ids[2] + 1);  // never handed out
    o.acknowledged(0);
    CHECK(o.in_flight() == 2);
    o.acknowledged(h.ids[0]);
    o.acknowledged(h.ids[1]);
    CHECK(o.in_flight() == 0);
    CHECK(o.drained());
    CHECK(o.bytes() == 0);
    // Ids go on counting: a new message never reuses one.
    o.enqueue(msg("d"));
    CHECK(pump(o).ids == std::vector<outbox::message_id>{h.ids[2] + 1});
}

TEST_CASE("outbox: a PUBACK reason code of 0x80 or more is final; other failures keep it") {
    CHECK(outbox::refused(0x80));
    CHECK(outbox::refused(0x97));  // quota exceeded
    CHECK(outbox::refused(0xFE));
    CHECK_FALSE(outbox::refused(0));
    CHECK_FALSE(outbox::refused(0x10));  // no matching subscribers: a success
    CHECK_FALSE(outbox::refused(0xFF));  // Paho's "no reason code"
    CHECK_FALSE(outbox::refused(-1));

    outbox o(4096, 1024);
    o.set_receive_maximum(10);
    o.enqueue(msg("refused"));
    o.enqueue(msg("lost"));
    const auto h = pump(o);
    CHECK(o.failed(h.ids[0], 0x87));      // not authorized
    CHECK_FALSE(o.failed(h.ids[1], -1));  // the connection's failure
    CHECK(o.in_flight() == 1);
    // After a lost session only the one the connection lost goes again.
    CHECK(o.republish_unacknowledged() == 1);
    CHECK(pump(o).payloads == strings({"lost"}));
}

TEST_CASE("outbox: after a lost session the unacknowledged go first, in order") {
    outbox o(4096, 1024);
    o.set_receive_maximum(3);
    for (const char* p : {"a", "b", "c", "d", "e"})
        o.enqueue(msg(p));
    const auto h = pump(o);    // a b c handed over
    o.acknowledged(h.ids[1]);  // b acknowledged before the connection went
    o.enqueue(msg("f"));
    const std::size_t bytes = o.bytes();

    CHECK(o.republish_unacknowledged() == 2);
    CHECK(o.in_flight() == 0);
    CHECK(o.bytes() == bytes);  // still not settled
    // The old ids are forgotten: a late report for them changes nothing.
    o.acknowledged(h.ids[0]);
    CHECK(o.waiting() == 5);

    o.set_receive_maximum(10);
    const auto again = pump(o);
    CHECK(again.payloads == strings({"a", "c", "d", "e", "f"}));
    CHECK(again.ids.front() > h.ids.back());
}

TEST_CASE("outbox: QoS 0 messages are not kept over a lost session") {
    outbox o(4096, 1024);
    o.set_receive_maximum(10);
    o.enqueue(msg("q0", 0));
    o.enqueue(msg("q1", 1));
    pump(o);
    CHECK(o.republish_unacknowledged() == 1);
    CHECK(o.bytes() == std::string("t").size() + std::string("q1").size());
    CHECK(pump(o).payloads == strings({"q1"}));
}

TEST_CASE("outbox: tickets and settled_through") {
    outbox o(4096, 1024);
    o.set_receive_maximum(10);
    CHECK(o.last_ticket() == 0);
    CHECK(o.settled_through() == 0);
    CHECK(o.enqueue(msg("a")) == 1);
    CHECK(o.enqueue(msg("b")) == 2);
    CHECK(o.enqueue(msg("c")) == 3);
    CHECK(o.last_ticket() == 3);
    CHECK(o.settled_through() == 0);  // all waiting

    const auto h = pump(o);
    CHECK(o.settled_through() == 0);  // handed over is not settled
    o.acknowledged(h.ids[1]);
    CHECK(o.settled_through() == 0);  // a still open
    o.acknowledged(h.ids[0]);
    CHECK(o.settled_through() == 2);
    CHECK(o.failed(h.ids[2], 0x80));
    CHECK(o.settled_through() == 3);

    // A message put at the front gets the next ticket, and holds back only itself.
    CHECK(o.enqueue(msg("status"), true) == 4);
    CHECK(o.settled_through() == 3);
    CHECK(o.next()->payload == "status");
    o.drop_next();
    CHECK(o.settled_through() == 4);
}

TEST_CASE("outbox: a message put at the front goes before everything waiting") {
    outbox o(4096, 1024);
    o.set_receive_maximum(10);
    o.enqueue(msg("a"));
    o.enqueue(msg("b"));
    o.enqueue(msg("online"), true);
    CHECK(pump(o).payloads == strings({"online", "a", "b"}));
}

TEST_CASE("outbox: backlog marks with hysteresis, counting held messages") {
    outbox o(4096, 1024);
    o.set_receive_maximum(10);
    CHECK_FALSE(o.check_backlog());  // no marks: never backlogged
    o.set_marks(100, 40);
    const std::string fifty(49, 'x');  // 50 bytes with the topic "t"

    o.enqueue(msg(fifty));
    o.enqueue(msg(fifty));
    CHECK(o.bytes() == 100);
    CHECK_FALSE(o.check_backlog());  // at high: not above it
    o.enqueue(msg(fifty));
    CHECK(o.check_backlog());
    CHECK(o.backlogged());
    CHECK_FALSE(o.check_backlog());  // no change: nothing to report

    const auto h = pump(o);  // handed over, not acknowledged: still counted
    CHECK(o.bytes() == 150);
    CHECK_FALSE(o.check_backlog());
    o.acknowledged(h.ids[0]);
    o.acknowledged(h.ids[1]);  // 50 bytes: below high, above low
    CHECK_FALSE(o.check_backlog());
    CHECK(o.backlogged());
    o.acknowledged(h.ids[2]);  // 0: at low or below
    CHECK(o.check_backlog());
    CHECK_FALSE(o.backlogged());

    // Back above low but not above high: not backlogged again.
    o.enqueue(msg(fifty));
    o.enqueue(msg(fifty));
    CHECK_FALSE(o.check_backlog());
    CHECK_FALSE(o.backlogged());
}

TEST_CASE("outbox: a message over the broker's packet limit is refused, and dropped") {
    outbox o(4096, 1024);
    o.set_receive_maximum(10);
    o.enqueue(msg(std::string(100, 'x')));
    o.enqueue(msg("small"));
    CHECK(o.oversize(mqtt_version::v5) == 0);  // no limit known
    o.limit_packet_size(200);
    o.limit_packet_size(0);    // none announced: the smallest seen stays
    o.limit_packet_size(500);  // a larger one does not raise it
    CHECK(o.max_packet() == 200);
    CHECK(o.oversize(mqtt_version::v5) == 0);
    o.limit_packet_size(100);
    // 100 bytes of payload, topic "t": 2 + 1 + 2 (packet id) + 1 (properties) + 100, plus the
    // fixed header of 2.
    CHECK(o.oversize(mqtt_version::v5) == 108);
    CHECK(o.oversize(mqtt_version::v3_1_1) == 107);
    o.drop_next();
    CHECK(o.oversize(mqtt_version::v5) == 0);
    CHECK(o.settled_through() == 1);
    CHECK(o.bytes() == std::string("t").size() + std::string("small").size());
    CHECK(pump(o).payloads == strings({"small"}));
}

TEST_CASE("outbox: the properties count on MQTT 5 only") {
    const llmb::publish_properties props{"0123456789abcdef", 60};
    CHECK(llmb::publish_properties_size(props, mqtt_version::v3_1_1) == 0);
    CHECK(llmb::publish_properties_size(props, mqtt_version::v5) == 24);
    outbox o(4096, 1024);
    outbound_message m = msg(std::string(100, 'x'));
    m.props = props;
    o.enqueue(m);
    o.limit_packet_size(120);
    // 100 bytes fit on 3.1.1; on 5 the 24 bytes of properties make the packet too large.
    CHECK(o.oversize(mqtt_version::v3_1_1) == 0);
    CHECK(o.oversize(mqtt_version::v5) ==
          llmb::protocol::publish_packet_size(1, 100, 24, 1, mqtt_version::v5));
    CHECK(o.oversize(mqtt_version::v5) > 120);
}

TEST_CASE("outbox: a waiting message can be amended, one handed over cannot") {
    outbox o(4096, 1024);
    o.set_receive_maximum(1);
    const auto a = o.enqueue(msg("a"));
    const auto b = o.enqueue(msg("b"));
    const auto c = o.enqueue(msg("c"));
    const auto first = pump(o);
    REQUIRE(first.payloads == strings({"a"}));
    CHECK(o.bytes() == 6);          // three of topic "t" and one byte each
    CHECK_FALSE(o.amend(a, "a2"));  // on its way: the broker may have it already
    CHECK(o.bytes() == 6);
    CHECK(o.amend(b, "b joined"));
    CHECK(o.bytes() == 13);
    CHECK(o.amend(b, "bb"));  // again, shorter
    CHECK(o.bytes() == 7);
    CHECK_FALSE(o.amend(c + 1, "unknown"));
    CHECK(o.last_ticket() == c);  // amending takes no ticket
    o.acknowledged(first.ids[0]);
    const auto second = pump(o);
    REQUIRE(second.payloads == strings({"bb"}));  // in its place, before c
    CHECK_FALSE(o.amend(b, "late"));
    CHECK(o.amend(c, "cc"));
    o.acknowledged(second.ids[0]);
    CHECK(pump(o).payloads == strings({"cc"}));
    o.acknowledged(second.ids[0] + 1);
    CHECK(o.drained());
    CHECK(o.bytes() == 0);
    CHECK(o.settled_through() == c);
}

TEST_CASE("outbox: amending finds its message after pushes at the front and republishing") {
    outbox o(4096, 1024);
    o.set_receive_maximum(2);
    o.enqueue(msg("a"));
    o.enqueue(msg("b"));
    const auto c = o.enqueue(msg("c"));
    const auto d = o.enqueue(msg("d"));
    const auto online = o.enqueue(msg("online"), true);
    REQUIRE(pump(o).payloads == strings({"online", "a"}));
    const auto e = o.enqueue(msg("e"));
    CHECK(o.republish_unacknowledged() == 2);  // online and a wait again, at the front
    CHECK_FALSE(o.amend(online, "x"));         // handed over once: it stays as it is
    CHECK(o.amend(c, "c2"));
    CHECK(o.amend(e, "e2"));
    const auto early = o.enqueue(msg("early"), true);
    CHECK(o.amend(early, "early2"));
    CHECK(o.amend(d, "d2"));
    o.set_receive_maximum(10);
    CHECK(pump(o).payloads == strings({"early2", "online", "a", "b", "c2", "d2", "e2"}));
}

TEST_CASE("outbox: a message dropped as too large cannot be amended") {
    outbox o(4096, 1024);
    o.limit_packet_size(20);
    const auto big = o.enqueue(msg(std::string(40, 'x')));
    REQUIRE(o.oversize(mqtt_version::v5) != 0);
    o.drop_next();
    CHECK_FALSE(o.amend(big, "small"));
    CHECK(o.bytes() == 0);
}
