// The broker ACL shipped in config/mosquitto.acl, on a real mosquitto with a password file made
// as config/README.md says: a device reads and writes only its own topics, the bridge's account
// has all it needs, and no device can read, request, cancel or answer as another.
#include <doctest/doctest.h>

#include <set>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_bridge_user = "llm-bridge";
constexpr const char* k_bridge_password = "bridge-pw-3e9";

// A device account: its username is its client segment.
client_options device(const std::string& name) {
    client_options o;
    o.username = name;
    o.password = name + "-pw";
    return o;
}

void add_account(const test_dir& dir, const std::string& user, const std::string& password) {
    const bool first = !std::filesystem::exists(dir.file("passwd"));
    std::vector<std::string> argv{"mosquitto_passwd", "-b"};
    if (first) {
        argv.emplace_back("-c");
    }
    argv.insert(argv.end(), {dir.file("passwd").string(), user, password});
    run_tool(dir, "mosquitto_passwd-" + user, std::move(argv));
}

broker_options acl_broker(const test_dir& dir) {
    add_account(dir, k_bridge_user, k_bridge_password);
    for (const char* d : {"devA", "devB"}) {
        add_account(dir, d, device(d).password);
    }
    broker_options o;
    o.password_file = dir.file("passwd");
    o.acl_file = LLMB_ACL_PATH;  // the file from config/, as shipped
    return o;
}

bridge_options bridge_account(const test_dir& dir) {
    bridge_options o;
    o.config = dir.file("bridge.yaml");
    // The broker takes no anonymous clients: the bridge logs in with its own account.
    write_file(o.config, std::string("mqtt:\n  username: ") + k_bridge_user + "\n  password: \"" +
                             k_bridge_password + "\"\n");
    o.status_client.username = k_bridge_user;  // it may read the status topic
    o.status_client.password = k_bridge_password;
    return o;
}

std::string id_of(const received& m) {
    const auto j = nlohmann::json::parse(m.payload, nullptr, false);
    return j.is_object() ? j.value("id", std::string()) : std::string();
}

TEST_SUITE("acl") {
    TEST_CASE("a device cannot read, request, cancel or answer as another") {
        test_dir dir;
        broker mqtt(dir, acl_broker(dir));
        mock_llm llm(dir);
        bridge br(dir, mqtt, llm.url(), bridge_account(dir));
        // The bridge's account reads every event stream: where anything went.
        test_client& watcher = br.status();
        watcher.subscribe("llm/response/#");

        test_client b(mqtt.url(), "llm", device("devB"));
        b.subscribe_client("devB");
        test_client a(mqtt.url(), "llm", device("devA"));
        a.subscribe_client("devA");
        // The broker takes these subscriptions but must deliver nothing on them.
        a.subscribe("llm/response/devB/#");
        a.subscribe("llm/text/devB/#");

        // B's request streams for a while (12 pieces, 50 ms apart).
        const std::string text = "the answer for devB alone, in several pieces";
        b.publish_request("devB", echo_request("b1", text, "piece=4 delay_ms=50"));
        REQUIRE(b.wait_first_chunk("devB", "b1", 10s));

        // As B: cancelling b1 and requesting are refused by the broker ("not authorized").
        CHECK_THROWS(a.publish_cancel("devB", R"({"id":"b1"})"));
        CHECK_THROWS(a.publish_request("devB", echo_request("a_as_b", "asked as devB")));
        // Into B's stream: a Response Topic under B, on A's own request topic, is refused.
        const std::string corr = "a-corr";
        a.publish_request_with("devA", echo_request("a_redirect", "into devB"),
                               {std::string("llm/response/devB/b1"), corr});
        auto refused = a.collect("devA", "a_redirect", 10s);
        check_error(refused, "bad_request");
        for (const auto& m : refused.messages) {
            CHECK(m.correlation_data == corr);
        }

        // b1 ends normally, then B's next request: the barrier after everything A sent.
        auto s = b.collect("devB", "b1", 15s);
        check_done(s, text);
        check_serving(b, "devB", "b2");

        watcher.drain();
        for (const auto& m : watcher.inbox()) {
            CAPTURE(m.topic);
            CHECK(id_of(m) != "a_as_b");
            if (m.topic.rfind("llm/response/devB/", 0) == 0) {
                CHECK(std::set<std::string>{"b1", "b2"}.count(id_of(m)) == 1);
            }
        }
        b.drain();
        for (const auto& m : b.inbox()) {
            CAPTURE(m.topic);
            CHECK(m.topic.find("a_") == std::string::npos);
            if (m.topic.rfind("llm/response/", 0) == 0) {
                CHECK(std::set<std::string>{"b1", "b2"}.count(id_of(m)) == 1);
            }
        }
        a.drain();
        for (const auto& m : a.inbox()) {
            CAPTURE(m.topic);
            CHECK(m.topic.find("/devB/") == std::string::npos);
        }
        // Only B's two requests reached the LLM server.
        CHECK(llm.stats()["requests"] == 2);
    }
}

}  // namespace
}  // namespace llmb::itest
