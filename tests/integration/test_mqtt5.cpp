// MQTT 5 request/response: a request's Response Topic (when it lies under an allowed prefix)
// receives every event, Correlation Data is copied onto every event, chunk events and raw text
// expire after chunk_expiry_s, packets fit counting their properties, and nothing is ever
// published outside the bridge's own topics. A bridge configured for 3.1.1 serves 3.1.1 devices.
#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "checks.hpp"
#include "protocol/packet.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

bridge_options with_config(const test_dir& dir, const std::string& yaml) {
    bridge_options o;
    o.config = dir.file("bridge.yaml");
    write_file(o.config, yaml);
    return o;
}

// A broker, a mock server and a bridge started with this configuration file (the broker and
// the mock server come from --mqtt and --llm).
struct config_stack {
    explicit config_stack(const std::string& yaml)
        : mqtt(dir), llm(dir), br(dir, mqtt, llm.url(), with_config(dir, yaml)) {}

    test_dir dir;
    broker mqtt;
    mock_llm llm;
    bridge br;
};

// Binary Correlation Data: a 0x00 byte, bytes that are not UTF-8, and a tag.
std::string binary_correlation(std::string_view tag) {
    std::string c("\x00\x01\xfe\xff", 4);
    c += tag;
    c.push_back('\0');
    return c;
}

std::string type_of(const received& m) {
    auto j = nlohmann::json::parse(m.payload, nullptr, false);
    return j.is_object() ? j.value("type", std::string()) : std::string();
}

// Size of the PUBLISH packet that carried m, counting the properties it arrived with.
std::size_t packet_size_v5(const received& m) {
    const std::size_t props = protocol::publish_properties_size(
        m.correlation_data ? m.correlation_data->size() : 0, m.message_expiry.has_value());
    return protocol::publish_packet_size(m.topic.size(), m.payload.size(), props, m.qos,
                                         protocol::mqtt_version::v5);
}

// Every message of s (events, and raw text when with_text) carries exactly this correlation.
void check_correlation(const response_stream& s, const std::string& correlation,
                       bool with_text = false) {
    INFO(s.summary());
    REQUIRE(!s.messages.empty());
    for (const auto& m : s.messages) {
        CAPTURE(m.payload);
        REQUIRE(m.correlation_data.has_value());
        CHECK(*m.correlation_data == correlation);
    }
    if (with_text) {
        for (const auto& m : s.text_messages) {
            REQUIRE(m.correlation_data.has_value());
            CHECK(*m.correlation_data == correlation);
        }
    }
}

std::size_t messages_on(const test_client& c, const std::string& topic) {
    std::size_t n = 0;
    for (const auto& m : c.inbox()) {
        n += m.topic == topic ? 1U : 0U;
    }
    return n;
}

// An echo request answered completely on the default topic of client, which c already
// subscribed: as the bridge handles messages in order, everything sent before it was handled.
void barrier(test_client& c, std::string_view client, std::string_view id) {
    const std::string text = "barrier " + std::string(id);
    c.publish_request(client, echo_request(id, text));
    check_done(c.collect(client, id, 10s), text);
}

bool starts_with(std::string_view s, std::string_view head) {
    return s.substr(0, head.size()) == head;
}

TEST_SUITE("mqtt5") {
    TEST_CASE("an allowed Response Topic gets the whole stream with the correlation data") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe("llm/response/#");
        c.subscribe("llm/text/#");
        const std::string text = mixed_text();
        const std::string topic = "llm/response/dev1/custom-answers";
        const std::string corr = binary_correlation("rt1");
        c.publish_request_with("dev1", echo_request("rt1", text, "piece=16"), {topic, corr});
        auto s = c.collect_at(topic, "dev1", "rt1", 15s);
        check_done(s, text);
        check_correlation(s, corr);
        CHECK(s.count("chunk") > 1);
        // The raw text topic stays where it was.
        REQUIRE(c.await_text(s, text.size(), 5s));
        CHECK(s.raw_text() == text);
        // Without chunk_expiry_s nothing expires.
        for (const auto& m : s.messages) {
            CHECK(!m.message_expiry.has_value());
        }

        // A later request, answered on its default topic, orders everything before it.
        barrier(c, "dev1", "barrier");
        CHECK(messages_on(c, "llm/response/dev1/rt1") == 0);
        for (const auto& m : c.inbox()) {
            if (m.topic == "llm/response/dev1/barrier") {
                CHECK(!m.correlation_data.has_value());
            }
        }
    }

    TEST_CASE("a Response Topic outside the allowed prefixes is refused and never published on") {
        stack st;
        test_client watcher(st.mqtt.url());
        watcher.subscribe("#");
        watcher.subscribe("$SYS/x");
        test_client c(st.mqtt.url());
        c.subscribe_client("dev2");
        // Published as dev2, so that anything on llm/request/dev1 comes from the bridge. By
        // default dev2 may only name topics under its own llm/response/dev2/: not dev1's.
        const std::vector<std::string> refused{
            "other/topic", "llm/response/+/x",         "llm/request/dev1",
            "$SYS/x",      "llm/response/dev1/stolen", "llm/response/dev2"};
        for (std::size_t i = 0; i < refused.size(); ++i) {
            const std::string id = "bad" + std::to_string(i);
            const std::string corr = binary_correlation(id);
            CAPTURE(refused[i]);
            c.publish_request_with("dev2", echo_request(id, "never answered " + id),
                                   {refused[i], corr});
            auto s = c.collect("dev2", id, 10s);
            check_error(s, "bad_request");
            check_correlation(s, corr);
            CHECK(s.count("chunk") == 0);
        }
        CHECK(st.llm.stats()["requests"] == 0);

        barrier(c, "dev2", "barrier");
        REQUIRE(watcher
                    .wait_for(
                        "llm/response/dev2/barrier",
                        [](const received& m) { return type_of(m) == "done"; }, 10s)
                    .has_value());
        watcher.drain();
        for (const auto& m : watcher.inbox()) {
            CAPTURE(m.topic);
            CAPTURE(m.payload);
            CHECK(m.topic != "other/topic");
            CHECK(m.topic != "llm/request/dev1");
            CHECK(m.topic != "$SYS/x");
            CHECK(m.topic.rfind("llm/response/dev1/", 0) != 0);
            CHECK(m.topic != "llm/response/dev2");
            CHECK(m.topic.find('+') == std::string::npos);
        }
        CHECK(messages_on(watcher, "llm/response/dev2/barrier") > 0);
    }

    TEST_CASE("mqtt.response_prefixes replaces the default allowed prefix") {
        // The configured prefix is what the test is about.
        config_stack st("mqtt:\n  response_prefixes: [devices/]\n");
        test_client c(st.mqtt.url());
        c.subscribe("devices/#");
        c.subscribe_client("dev1");
        const std::string corr = binary_correlation("kitchen");
        c.publish_request_with("dev1", echo_request("d1", "to the kitchen"),
                               {"devices/kitchen/a", corr});
        auto s = c.collect_at("devices/kitchen/a", "dev1", "d1", 10s);
        check_done(s, "to the kitchen");
        check_correlation(s, corr);

        // The project's own response prefix is not allowed any more.
        c.publish_request_with("dev1", echo_request("d2", "refused"),
                               {"llm/response/dev1/x", corr});
        auto refused = c.collect("dev1", "d2", 10s);
        check_error(refused, "bad_request");
        check_correlation(refused, corr);
        check_serving(c, "dev1", "barrier");
        CHECK(messages_on(c, "llm/response/dev1/x") == 0);
        CHECK(messages_on(c, "llm/response/dev1/d1") == 0);
    }

    TEST_CASE("a configured prefix with {client} confines each client to its own topics") {
        config_stack st("mqtt:\n  response_prefixes: [\"devices/{client}/\"]\n");
        test_client c(st.mqtt.url());
        c.subscribe("devices/#");
        c.subscribe_client("dev1");
        const std::string corr = binary_correlation("own");
        c.publish_request_with("dev1", echo_request("k1", "to my own"), {"devices/dev1/a", corr});
        auto s = c.collect_at("devices/dev1/a", "dev1", "k1", 10s);
        check_done(s, "to my own");
        check_correlation(s, corr);

        // Another client's topics under the same prefix are refused.
        c.publish_request_with("dev1", echo_request("k2", "refused"), {"devices/dev9/a", corr});
        auto refused = c.collect("dev1", "k2", 10s);
        check_error(refused, "bad_request");
        check_correlation(refused, corr);
        check_serving(c, "dev1", "barrier");
        CHECK(messages_on(c, "devices/dev9/a") == 0);
    }

    TEST_CASE("Correlation Data without a Response Topic: default topic, correlation everywhere") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev1");
        c.subscribe_client("dev3");
        const std::string corr = binary_correlation("plain");
        const std::string text = "correlated answer " + mixed_text();
        c.publish_request_with("dev1", echo_request("c1", text, "piece=16"), {std::nullopt, corr});
        auto s = c.collect("dev1", "c1", 15s);
        check_done(s, text);
        check_correlation(s, corr);
        CHECK(s.count("chunk") > 1);

        // A request that cannot be read gets its error, under a generated id, with the
        // correlation data too; so does one refused by a field check.
        const std::string corr2 = binary_correlation("malformed");
        c.publish_with("llm/request/dev3", "this is not JSON", {std::nullopt, corr2});
        auto bad = c.collect("llm/response/dev3/+", 10s);
        check_error(bad, "bad_request");
        check_correlation(bad, corr2);
        const std::string corr3 = binary_correlation("field");
        c.publish_request_with("dev1", nlohmann::json{{"id", "c2"}, {"prompt", ""}},
                               {std::nullopt, corr3});
        auto field = c.collect("dev1", "c2", 10s);
        check_error(field, "bad_request");
        check_correlation(field, corr3);
    }

    TEST_CASE("chunk_expiry_s: chunks and raw text expire, start and done do not") {
        // The expiry is what the test is about.
        config_stack st("mqtt:\n  chunk_expiry_s: 30\n");
        test_client c(st.mqtt.url());
        c.subscribe_client("dev1");
        const std::string text = "expiring answer " + mixed_text();
        c.publish_request("dev1", echo_request("e1", text, "piece=16"));
        auto s = c.collect("dev1", "e1", 15s);
        check_done(s, text);
        REQUIRE(c.await_text(s, text.size(), 5s));
        CHECK(s.raw_text() == text);
        std::size_t chunks = 0;
        for (const auto& m : s.messages) {
            const std::string type = type_of(m);
            CAPTURE(m.payload);
            if (type == "chunk") {
                ++chunks;
                REQUIRE(m.message_expiry.has_value());
                CHECK(*m.message_expiry > 0);
                CHECK(*m.message_expiry <= 30);
            } else if (type == "start" || type == "done" || type == "error") {
                CHECK(!m.message_expiry.has_value());
            }
        }
        CHECK(chunks > 1);
        for (const auto& m : s.text_messages) {
            REQUIRE(m.message_expiry.has_value());
            CHECK(*m.message_expiry > 0);
            CHECK(*m.message_expiry <= 30);
        }
    }

    TEST_CASE(
        "max_packet with 40 bytes of correlation data: every packet fits, properties counted") {
        // An expiry adds a property to every chunk: the packets must fit with it counted.
        config_stack st("mqtt:\n  chunk_expiry_s: 60\n");
        test_client c(st.mqtt.url());
        c.subscribe("llm/response/#");
        c.subscribe("llm/text/#");
        const std::string corr = binary_correlation(std::string(35, 'k'));
        REQUIRE(corr.size() == 40);
        const std::string text = mixed_text() + " / " + mixed_text();
        constexpr std::size_t limit = 200;
        struct variant {
            std::string id;
            std::optional<std::string> topic;
        };
        for (const variant& v : {variant{"p1", std::nullopt},
                                 variant{"p2", std::string("llm/response/dev1/custom-p2")}}) {
            CAPTURE(v.id);
            auto req = echo_request(v.id, text, "piece=64");
            req["max_packet"] = limit;
            c.publish_request_with("dev1", req, {v.topic, corr});
            auto s =
                v.topic ? c.collect_at(*v.topic, "dev1", v.id, 20s) : c.collect("dev1", v.id, 20s);
            check_done(s, text);
            check_correlation(s, corr);
            REQUIRE(c.await_text(s, text.size(), 5s));
            CHECK(s.raw_text() == text);
            std::size_t largest = 0;
            for (const auto& m : s.messages) {
                largest = std::max(largest, packet_size_v5(m));
            }
            for (const auto& m : s.text_messages) {
                largest = std::max(largest, packet_size_v5(m));
            }
            CHECK(largest <= limit);
            // 64-byte pieces do not fit: chunks are filled up to the limit, properties counted.
            CHECK(largest > limit - 20);
        }

        // At 160 bytes, the properties leave a payload of less than 90 bytes: too small for the
        // frag events the bridge must be able to send (PROTOCOL.md, "Packet sizes"), so the
        // request is refused.
        auto req = echo_request("p3", text, "piece=64");
        req["max_packet"] = 160;
        c.publish_request_with("dev1", req, {std::nullopt, corr});
        auto refused = c.collect("dev1", "p3", 10s);
        check_error(refused, "bad_request");
        check_correlation(refused, corr);
        // (Like any refusal of a too small max_packet, this one error need not fit it.)
    }

    TEST_CASE("hostile requests: nothing is published outside the bridge's own topics") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        test_client watcher(mqtt.url());
        watcher.subscribe("#");
        bridge br(dir, mqtt, llm.url(),
                  with_config(dir,
                              "projects:\n"
                              "  - prefix: llm\n"
                              // dev1 sends 19 requests at once, at the edge of the
                              // default burst of 20: no rate limit, so none is refused for it.
                              "    limits:\n"
                              "      rate_per_second: 0\n"
                              // Legacy topics are among those hostile input must not reach.
                              "  - prefix: maze\n"
                              "    legacy: true\n"));
        test_client c(mqtt.url());
        std::set<std::string> published;  // topics the test itself publishes on
        auto request = [&](const std::string& client, const std::string& payload,
                           std::optional<std::string> response_topic) {
            const std::string topic = "llm/request/" + client;
            published.insert(topic);
            c.publish_with(topic, payload, {std::move(response_topic), std::string("h")});
        };
        const std::string ok = echo_request("", "hostile").dump();
        // Response Topics the bridge must not publish on (several lie under topics it does use).
        const std::vector<std::string> refused{"other/t",
                                               "llm/responsex/a",
                                               "llm/response/",
                                               "llm/response",
                                               "/llm/response/a",
                                               "llm/text/dev1/x",
                                               "llm/status/x",
                                               "llm/request/x",
                                               "maze/assistant_response/x",
                                               "$share/g/llm/response/x"};
        for (const auto& t : refused) {
            request("dev1", ok, t);
        }
        for (const char* client : {"bad client", "ünï", "x\"y", "dots..", "-"}) {
            request(client, ok, std::nullopt);
        }
        for (const char* id : {"a/b", "+", "#", "../x", " ", "$SYS", "ünï"}) {
            request("dev1", echo_request(id, "odd id").dump(), std::nullopt);
        }
        request("dev1", echo_request(std::string(65, 'i'), "long id").dump(), std::nullopt);
        for (const char* reply : {"elsewhere/x", "maze/assistant_response/#",
                                  "maze/assistant_response/../../x", "llm/response/dev1/r"}) {
            published.insert("maze/user_input");
            c.publish("maze/user_input", nlohmann::json{{"sessionId", "s1"},
                                                        {"message", mock_prompt("echo", "legacy")},
                                                        {"replyTopic", reply}}
                                             .dump());
        }
        for (const char* session : {"a/b", "+", "#", ""}) {
            c.publish("maze/user_input",
                      nlohmann::json{{"sessionId", session}, {"message", "x"}}.dump());
        }
        published.insert("llm/cancel/dev1");
        c.publish_cancel("dev1", R"({"id":"#"})");
        c.publish_cancel("dev1", R"({"id":"a/b"})");
        published.insert("llm/session/dev1");
        c.publish("llm/session/dev1", R"({"id":"a/b","op":"get","session":"s1"})");
        c.publish("llm/session/dev1", R"({"id":"q1","op":"get","session":"../x"})");

        // The bridge is still serving both projects, and everything before is handled.
        check_serving(c, "dev1", "barrier");
        published.insert("llm/request/dev1");
        published.insert("maze/user_input");
        c.subscribe("maze/assistant_response/#");
        c.publish(
            "maze/user_input",
            nlohmann::json{{"sessionId", "fine"}, {"message", mock_prompt("echo", "ok")}}.dump());
        REQUIRE(c.wait_for(
            "maze/assistant_response/fine", [](const received& m) { return m.payload == "ok"; },
            10s));
        CHECK(watcher
                  .wait_for(
                      "llm/response/dev1/barrier",
                      [](const received& m) { return type_of(m) == "done"; }, 10s)
                  .has_value());
        watcher.drain();

        const std::vector<std::string> allowed_heads{"llm/response/",  "llm/text/",
                                                     "llm/status/",    "llm/metrics/",
                                                     "maze/response/", "maze/text/"};
        for (const auto& t : refused) {
            CHECK_MESSAGE(messages_on(watcher, t) == 0, "the bridge published on " << t);
        }
        std::size_t from_bridge = 0;
        for (const auto& m : watcher.inbox()) {
            if (published.count(m.topic) != 0) {
                continue;
            }
            // A legacy error for an empty sessionId goes to the bare assistant_response/ level,
            // where such a device listens.
            bool ok_topic = m.topic == "llm/status" || m.topic == "llm/metrics" ||
                            starts_with(m.topic, "maze/assistant_response/");
            for (const auto& head : allowed_heads) {
                ok_topic = ok_topic || (starts_with(m.topic, head) && m.topic.size() > head.size());
            }
            CHECK_MESSAGE(ok_topic,
                          "published outside the bridge's topics: " << m.topic << " " << m.payload);
            CHECK(m.topic.find_first_of("+#") == std::string::npos);
            ++from_bridge;
        }
        CHECK(from_bridge > 0);
        CHECK(br.proc().running());
    }

    TEST_CASE("a bridge on MQTT 3.1.1 serves a 3.1.1 device on the default topics") {
        // A bridge held to 3.1.1 is what the test is about.
        config_stack st("mqtt:\n  version: \"3.1.1\"\n");
        test_client c(st.mqtt.url(), "llm", false);
        c.subscribe_client("old");
        const std::string text = "an answer for an old device " + mixed_text();
        c.publish_request("old", echo_request("v1", text, "piece=16"));
        auto s = c.collect("old", "v1", 15s);
        check_done(s, text);
        REQUIRE(c.await_text(s, text.size(), 5s));
        CHECK(s.raw_text() == text);
        for (const auto& m : s.messages) {
            CHECK(!m.correlation_data.has_value());
            CHECK(!m.message_expiry.has_value());
        }

        // The bridge sees no properties: an MQTT 5 device's Response Topic is not used either.
        test_client v5(st.mqtt.url());
        v5.subscribe("llm/response/#");
        v5.publish_request_with("new", echo_request("v2", "default topic"),
                                {std::string("llm/response/new/custom"), std::string("c")});
        auto d = v5.collect("new", "v2", 10s);
        check_done(d, "default topic");
        CHECK(messages_on(v5, "llm/response/new/custom") == 0);
        for (const auto& m : d.messages) {
            CHECK(!m.correlation_data.has_value());
        }
    }
}

}  // namespace
}  // namespace llmb::itest
