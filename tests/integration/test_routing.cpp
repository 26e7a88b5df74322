// Backends: a request goes to a server that serves its model, past one that cannot be reached,
// with the API key taken from the environment.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

std::uint64_t requests_of(const mock_llm& llm) {
    return llm.stats()["requests"].get<std::uint64_t>();
}

bridge_options with_config(const test_dir& dir, const std::string& yaml) {
    bridge_options o;
    o.config = dir.file("bridge.yaml");
    write_file(o.config, yaml);
    return o;
}

nlohmann::json model_request(const std::string& id, const std::string& model) {
    auto r = echo_request(id, "routed " + id);
    r["model"] = model;
    return r;
}

// A bridge whose one backend takes its API key from LLMB_ITEST_API_KEY, set to key, in front of
// a mock server that wants the right key.
struct key_stack {
    static constexpr const char* right_key = "sk-itest-right-4f9b2c7e";

    explicit key_stack(const std::string& key)
        : mqtt(dir), llm(dir, {"--api-key", right_key}), br(dir, mqtt, "", options(key)) {}

    bridge_options options(const std::string& key) {
        auto o = with_config(dir, "mqtt:\n  url: " + mqtt.url() +
                                      "\n"
                                      "backends:\n"
                                      "  - name: keyed\n"
                                      "    url: " +
                                      llm.url() +
                                      "\n"
                                      "    api_key_env: LLMB_ITEST_API_KEY\n");
        o.env = {"LLMB_ITEST_API_KEY=" + key};
        return o;
    }

    test_dir dir;
    broker mqtt;
    mock_llm llm;
    bridge br;
};

TEST_SUITE("routing") {
    TEST_CASE("a request goes to the backend that serves its model") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm a(dir, {"--models", "a1"}, "mock-a");
        mock_llm b(dir, {"--models", "b1"}, "mock-b");
        bridge br(dir, mqtt, "",
                  with_config(dir, "mqtt:\n  url: " + mqtt.url() +
                                       "\n"
                                       "backends:\n"
                                       "  - name: A\n"
                                       "    url: " +
                                       a.url() +
                                       "\n"
                                       "    models: [a1]\n"
                                       "  - name: B\n"
                                       "    url: " +
                                       b.url() +
                                       "\n"
                                       "    models: [b1]\n"));
        test_client c(mqtt.url());
        c.subscribe_client("dev1");

        c.publish_request("dev1", model_request("r1", "b1"));
        auto s1 = c.collect("dev1", "r1", 10s);
        check_done(s1, "routed r1");
        CHECK(s1.events.front().value("model", std::string()) == "b1");
        CHECK(requests_of(b) == 1);
        CHECK(requests_of(a) == 0);

        c.publish_request("dev1", model_request("r2", "a1"));
        auto s2 = c.collect("dev1", "r2", 10s);
        check_done(s2, "routed r2");
        CHECK(s2.events.front().value("model", std::string()) == "a1");
        CHECK(requests_of(a) == 1);
        CHECK(requests_of(b) == 1);

        for (const char* id : {"r3", "r4", "r5"}) {
            c.publish_request("dev1", model_request(id, "b1"));
        }
        for (const char* id : {"r3", "r4", "r5"}) {
            CAPTURE(id);
            check_done(c.collect("dev1", id, 10s), std::string("routed ") + id);
        }
        CHECK(requests_of(b) == 4);
        CHECK(requests_of(a) == 1);
    }

    TEST_CASE("requests fail over from a backend nobody listens on to one that serves") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm b(dir, {"--models", "m"}, "mock-b");
        // No health probe for X: every request has to find out by itself.
        bridge br(dir, mqtt, "",
                  with_config(dir, "mqtt:\n  url: " + mqtt.url() +
                                       "\n"
                                       "backends:\n"
                                       "  - name: X\n"
                                       "    url: http://127.0.0.1:" +
                                       std::to_string(free_port()) +
                                       "\n"
                                       "    models: [m]\n"
                                       "    health_interval_ms: 0\n"
                                       "  - name: B\n"
                                       "    url: " +
                                       b.url() +
                                       "\n"
                                       "    models: [m]\n"));
        test_client c(mqtt.url());
        c.subscribe_client("dev1");
        INFO("mock server stats: " << b.stats().dump());

        c.publish_request("dev1", model_request("f0", "m"));
        check_done(c.collect("dev1", "f0", 10s), "routed f0");

        const std::vector<std::string> ids{"f1", "f2", "f3", "f4", "f5"};
        for (const auto& id : ids) {
            c.publish_request("dev1", model_request(id, "m"));
        }
        for (const auto& id : ids) {
            CAPTURE(id);
            check_done(c.collect("dev1", id, 10s), "routed " + id);
        }
        CHECK(requests_of(b) == 1 + ids.size());
    }

    TEST_CASE("the API key comes from the environment variable api_key_env names") {
        key_stack st(key_stack::right_key);
        test_client c(st.mqtt.url());
        c.subscribe_client("dev1");
        for (const char* id : {"k1", "k2"}) {
            CAPTURE(id);
            c.publish_request("dev1", echo_request(id, std::string("keyed ") + id));
            check_done(c.collect("dev1", id, 10s), std::string("keyed ") + id);
        }
        CHECK(st.br.proc().stderr_text().find(key_stack::right_key) == std::string::npos);
    }

    TEST_CASE("a wrong API key ends the request with upstream_error and is not revealed") {
        const std::string wrong = "sk-itest-wrong-8d1e6a03";
        key_stack st(wrong);
        test_client c(st.mqtt.url());
        c.subscribe_client("dev1");
        c.publish_request("dev1", echo_request("w1", "refused"));
        auto s = c.collect("dev1", "w1", 10s);
        check_error(s, "upstream_error");
        CHECK(s.count("chunk") == 0);
        CHECK(s.last().value("message", std::string()).find(wrong) == std::string::npos);
        CHECK(st.br.proc().stderr_text().find(wrong) == std::string::npos);
        CHECK(st.br.proc().running());
    }

    TEST_CASE("--check-config fails when the variable api_key_env names is not set") {
        test_dir dir;
        const std::string file = dir.file("bridge.yaml").string();
        write_file(file,
                   "backends:\n"
                   "  - url: http://127.0.0.1:8080\n"
                   "    api_key_env: LLMB_ITEST_UNSET_KEY_VARIABLE\n");  // line 3, column 18
        process p("check-unset", {bridge_path(), "--check-config", "--config", file}, dir.path());
        auto code = p.wait_exit(10s);
        INFO("stderr: " << p.stderr_text());
        REQUIRE(code.has_value());
        CHECK(*code == 1);
        CHECK(p.stderr_text().find(file + ":3:18: backends[0].api_key_env: ") != std::string::npos);
    }
}

}  // namespace
}  // namespace llmb::itest
