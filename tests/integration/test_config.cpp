// The configuration file: --check-config reports every error as file:line:column, --config runs
// with the file and the command line overrides it, each project's defaults reach the upstream
// server, and SIGHUP swaps in a changed file (or keeps the running one when the file is broken).
#include <doctest/doctest.h>

#include <signal.h>

#include <optional>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

struct check_outcome {
    std::optional<int> code;
    std::string err;
};

// Runs llm-mqtt-bridge --check-config --config file.
check_outcome check_config(const test_dir& dir, const std::string& file, const std::string& name) {
    process p(name, {bridge_path(), "--check-config", "--config", file}, dir.path());
    check_outcome r;
    r.code = p.wait_exit(10s);
    r.err = p.stderr_text();
    return r;
}

// The lines of text that start with head.
std::vector<std::string> lines_starting(const std::string& text, std::string_view head) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto eol = text.find('\n', pos);
        std::string line = text.substr(pos, eol == std::string::npos ? eol : eol - pos);
        if (line.rfind(head, 0) == 0) {
            out.push_back(line);
        }
        pos = eol == std::string::npos ? text.size() : eol + 1;
    }
    return out;
}

// The first lines of a configuration: the broker and one backend.
std::string base_yaml(const std::string& broker_url, const std::string& llm_url) {
    return "mqtt:\n"
           "  url: " +
           broker_url +
           "\n"
           "backends:\n"
           "  - name: mock\n"
           "    url: " +
           llm_url + "\n";
}

// base_yaml and one project llm with this system prompt (line 8 holds the prompt).
std::string prompt_yaml(const std::string& broker_url, const std::string& llm_url,
                        const std::string& prompt) {
    return base_yaml(broker_url, llm_url) +
           "projects:\n"
           "  - prefix: llm\n"
           "    system_prompt: \"" +
           prompt + "\"\n";
}

bridge_options with_config(const std::filesystem::path& file) {
    bridge_options o;
    o.config = file;
    return o;
}

// The system message the upstream request carrying marker began with ("" when none).
std::string upstream_system(const mock_llm& llm, std::string_view marker) {
    auto req = upstream_request_with(llm, marker);
    INFO("upstream request: " << req.dump());
    REQUIRE_MESSAGE(req.is_object(), "the mock server received no request with " << marker);
    const auto& first = req["messages"].at(0);
    if (first.value("role", std::string()) != "system") {
        return "";
    }
    return first.value("content", std::string());
}

std::size_t system_messages(const nlohmann::json& req) {
    std::size_t n = 0;
    for (const auto& m : req["messages"]) {
        if (m.value("role", std::string()) == "system") {
            ++n;
        }
    }
    return n;
}

// Sends an echo request with marker as its text and checks the answer.
void ask_echo(test_client& c, std::string_view client, const std::string& id,
              const std::string& marker, ms timeout = 10s) {
    c.publish_request(client, echo_request(id, marker));
    auto s = c.collect(client, id, timeout);
    check_done(s, marker);
}

// A broker, a mock server serving m1 and m2, and a bridge with two projects: llm (a system
// prompt only) and maze (a system prompt, model, thinking off, a LoRA and sampling defaults).
struct project_stack {
    project_stack()
        : mqtt(dir), llm(dir, {"--models", "m1,m2"}), br(dir, mqtt, "", config_file()) {}

    bridge_options config_file() {
        // Each project value below is one the tests check on its way to the server.
        auto path = dir.file("bridge.yaml");
        write_file(path,
                   "mqtt:\n"
                   "  url: " +
                       mqtt.url() +
                       "\n"
                       "backends:\n"
                       "  - url: " +
                       llm.url() +
                       "\n"
                       "    models: [m1, m2]\n"
                       "projects:\n"
                       "  - prefix: llm\n"
                       "    system_prompt: \"You answer for the llm project.\"\n"
                       "  - prefix: maze\n"
                       "    name: maze game\n"
                       "    system_prompt: \"You narrate the maze.\"\n"
                       "    model: m2\n"
                       "    thinking: \"off\"\n"
                       "    lora: [{id: 1, scale: 0.5}]\n"
                       "    temperature: 0.3\n"
                       "    top_p: 0.8\n"
                       "    max_tokens: 77\n");
        return with_config(path);
    }

    test_dir dir;
    broker mqtt;
    mock_llm llm;
    bridge br;
};

TEST_SUITE("config") {
    TEST_CASE("--check-config accepts the example configuration and an empty file") {
        test_dir dir;
        auto example = check_config(dir, example_config_path(), "check-example");
        INFO("stderr: " << example.err);
        REQUIRE_MESSAGE(example.code.has_value(), "--check-config did not exit within 10 s");
        CHECK(*example.code == 0);
        CHECK(example.err.find("llm-mqtt-bridge.yaml:") == std::string::npos);

        write_file(dir.file("empty.yaml"), "");
        auto empty = check_config(dir, dir.file("empty.yaml").string(), "check-empty");
        INFO("stderr: " << empty.err);
        REQUIRE(empty.code.has_value());
        CHECK(*empty.code == 0);
    }

    TEST_CASE("--check-config reports each error on one line as file:line:column: path") {
        test_dir dir;
        const std::string file = dir.file("bad.yaml").string();
        write_file(file,
                   "# an unknown key and a value out of range\n"  // 1
                   "mqtt:\n"                                      // 2
                   "  url: tcp://127.0.0.1:1883\n"                // 3
                   "  kepp_alive_s: 30\n"                         // 4: the key is at column 3
                   "backends:\n"                                  // 5
                   "  - name: local\n"                            // 6
                   "    url: http://127.0.0.1:8080\n"             // 7
                   "    slots: 500000\n");                        // 8: the value at column 12
        auto r = check_config(dir, file, "check-bad");
        INFO("stderr: " << r.err);
        REQUIRE_MESSAGE(r.code.has_value(), "--check-config did not exit within 10 s");
        CHECK(*r.code == 1);

        auto unknown = lines_starting(r.err, file + ":4:3: mqtt.kepp_alive_s: ");
        REQUIRE(unknown.size() == 1);
        CHECK(unknown[0].find("unknown key") != std::string::npos);
        CHECK(unknown[0].find("keep_alive_s") != std::string::npos);

        auto range = lines_starting(r.err, file + ":8:12: backends[0].slots: ");
        REQUIRE(range.size() == 1);
        CHECK(range[0].find("100000") != std::string::npos);
        // In file order.
        CHECK(r.err.find(unknown[0]) < r.err.find(range[0]));
        // Nothing else is reported as an error of this file.
        CHECK(lines_starting(r.err, file + ":").size() == 2);
    }

    TEST_CASE("--check-config fails on a file that cannot be read") {
        test_dir dir;
        const std::string file = dir.file("missing.yaml").string();
        auto r = check_config(dir, file, "check-missing");
        INFO("stderr: " << r.err);
        REQUIRE(r.code.has_value());
        CHECK(*r.code == 1);
        CHECK(lines_starting(r.err, file + ": cannot read").size() == 1);
    }

    TEST_CASE("--config alone takes the broker, backend and project from the file") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        auto file = dir.file("bridge.yaml");
        write_file(file, prompt_yaml(mqtt.url(), llm.url(), "Configured by file."));
        auto opts = with_config(file);
        opts.mqtt_flag = false;
        bridge br(dir, mqtt, "", opts);

        test_client c(mqtt.url());
        c.subscribe_client("dev1");
        ask_echo(c, "dev1", "f1", "file-only marker");
        CHECK(upstream_system(llm, "file-only marker") == "Configured by file.");
    }

    TEST_CASE("--mqtt overrides the file's broker and --llm replaces its backends") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        const std::string nobody = "127.0.0.1:" + std::to_string(free_port());
        auto file = dir.file("bridge.yaml");
        // Both addresses in the file lead nowhere, and the backend serves a model nobody asks
        // for: only the command line makes this work.
        write_file(file,
                   "mqtt:\n"
                   "  url: tcp://" +
                       nobody +
                       "\n"
                       "backends:\n"
                       "  - name: nowhere\n"
                       "    url: http://" +
                       nobody +
                       "\n"
                       "    models: [elsewhere]\n"
                       "projects:\n"
                       "  - prefix: llm\n"
                       "    system_prompt: \"Still the file's prompt.\"\n");
        bridge br(dir, mqtt, llm.url(), with_config(file));

        test_client c(mqtt.url());
        c.subscribe_client("dev1");
        ask_echo(c, "dev1", "o1", "override marker");
        CHECK(upstream_system(llm, "override marker") == "Still the file's prompt.");
        CHECK(llm.stats()["requests"] == 1);
    }

    TEST_CASE("each project answers on its own prefix with its own system prompt") {
        project_stack st;
        test_client llm_c(st.mqtt.url(), "llm");
        test_client maze_c(st.mqtt.url(), "maze");
        llm_c.subscribe_client("dev1");
        maze_c.subscribe_client("dev1");

        maze_c.publish_request("dev1", echo_request("q1", "maze marker"));
        auto maze = maze_c.collect("dev1", "q1", 10s);
        check_done(maze, "maze marker");
        CHECK(maze.topic == "maze/response/dev1/q1");
        CHECK(upstream_system(st.llm, "maze marker") == "You narrate the maze.");

        llm_c.publish_request("dev1", echo_request("q1", "llm marker"));
        auto plain = llm_c.collect("dev1", "q1", 10s);
        check_done(plain, "llm marker");
        CHECK(plain.topic == "llm/response/dev1/q1");
        CHECK(upstream_system(st.llm, "llm marker") == "You answer for the llm project.");

        // Neither answer went to the other project's topics.
        llm_c.drain();
        maze_c.drain();
        for (const auto& m : llm_c.inbox()) {
            CHECK(m.topic.rfind("llm/", 0) == 0);
        }
        for (const auto& m : maze_c.inbox()) {
            CHECK(m.topic.rfind("maze/", 0) == 0);
        }
    }

    TEST_CASE("a request with its own system message keeps it") {
        project_stack st;
        test_client c(st.mqtt.url(), "maze");
        c.subscribe_client("dev1");
        nlohmann::json req;
        req["id"] = "own";
        req["messages"] = nlohmann::json::array(
            {{{"role", "system"}, {"content", "Be terse."}},
             {{"role", "user"}, {"content", mock_prompt("echo", "own system marker")}}});
        c.publish_request("dev1", req);
        check_done(c.collect("dev1", "own", 10s), "own system marker");

        auto up = upstream_request_with(st.llm, "own system marker");
        INFO("upstream request: " << up.dump());
        REQUIRE(up.is_object());
        CHECK(up["messages"][0]["role"] == "system");
        CHECK(up["messages"][0]["content"] == "Be terse.");
        CHECK(system_messages(up) == 1);
    }

    TEST_CASE("a project's model, thinking and LoRA go upstream; a request's model wins") {
        project_stack st;
        test_client maze_c(st.mqtt.url(), "maze");
        test_client llm_c(st.mqtt.url(), "llm");
        maze_c.subscribe_client("dev1");
        llm_c.subscribe_client("dev1");

        ask_echo(maze_c, "dev1", "p1", "project model marker");
        auto up = upstream_request_with(st.llm, "project model marker");
        INFO("upstream request: " << up.dump());
        REQUIRE(up.is_object());
        CHECK(up.value("model", std::string()) == "m2");
        CHECK(up["chat_template_kwargs"] == nlohmann::json::parse(R"({"enable_thinking":false})"));
        CHECK(up["lora"] == nlohmann::json::parse(R"([{"id":1,"scale":0.5}])"));

        auto own = echo_request("p2", "own model marker");
        own["model"] = "m1";
        maze_c.publish_request("dev1", own);
        check_done(maze_c.collect("dev1", "p2", 10s), "own model marker");
        auto up_own = upstream_request_with(st.llm, "own model marker");
        INFO("upstream request: " << up_own.dump());
        REQUIRE(up_own.is_object());
        CHECK(up_own.value("model", std::string()) == "m1");

        // The llm project sets none of these.
        ask_echo(llm_c, "dev1", "p3", "plain project marker");
        auto up_plain = upstream_request_with(st.llm, "plain project marker");
        INFO("upstream request: " << up_plain.dump());
        REQUIRE(up_plain.is_object());
        CHECK(!up_plain.contains("chat_template_kwargs"));
        CHECK((!up_plain.contains("lora") || up_plain["lora"].empty()));
        CHECK(up_plain.value("model", std::string()) != "m2");
    }

    TEST_CASE("project sampling defaults apply when a request has none; its own values win") {
        project_stack st;
        test_client c(st.mqtt.url(), "maze");
        c.subscribe_client("dev1");

        ask_echo(c, "dev1", "d1", "defaults marker");
        auto up = upstream_request_with(st.llm, "defaults marker");
        INFO("upstream request: " << up.dump());
        REQUIRE(up.is_object());
        REQUIRE(up["temperature"].is_number());
        CHECK(up["temperature"].get<double>() == doctest::Approx(0.3));
        REQUIRE(up["top_p"].is_number());
        CHECK(up["top_p"].get<double>() == doctest::Approx(0.8));
        CHECK(up["max_tokens"] == 77);

        auto own = echo_request("d2", "own values marker");
        own["temperature"] = 1.25;
        own["top_p"] = 0.5;
        own["max_tokens"] = 50;
        c.publish_request("dev1", own);
        check_done(c.collect("dev1", "d2", 10s), "own values marker");
        auto up_own = upstream_request_with(st.llm, "own values marker");
        INFO("upstream request: " << up_own.dump());
        REQUIRE(up_own.is_object());
        REQUIRE(up_own["temperature"].is_number());
        CHECK(up_own["temperature"].get<double>() == doctest::Approx(1.25));
        REQUIRE(up_own["top_p"].is_number());
        CHECK(up_own["top_p"].get<double>() == doctest::Approx(0.5));
        CHECK(up_own["max_tokens"] == 50);
    }

    TEST_CASE("SIGHUP reloads the file; a stream already running finishes") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        auto file = dir.file("bridge.yaml");
        write_file(file, prompt_yaml(mqtt.url(), llm.url(), "Old prompt."));
        bridge br(dir, mqtt, "", with_config(file));
        test_client c(mqtt.url());
        c.subscribe_client("dev1");

        ask_echo(c, "dev1", "before", "before marker");
        CHECK(upstream_system(llm, "before marker") == "Old prompt.");

        // 40 pieces of 4 bytes, 50 ms apart: about two seconds.
        std::string slow_text;
        for (int i = 0; i < 40; ++i) {
            slow_text += "p" + std::to_string(100 + i);
        }
        c.publish_request("dev1", echo_request("slow", slow_text, "piece=4 delay_ms=50"));
        REQUIRE_MESSAGE(c.wait_first_chunk("dev1", "slow", 10s), "the slow stream did not start");

        write_file(file, prompt_yaml(mqtt.url(), llm.url(), "New prompt."));
        auto mark = br.proc().stderr_size();
        br.proc().send_signal(SIGHUP);
        REQUIRE_MESSAGE(br.proc().wait_stderr("reloaded", 10s, mark),
                        "no log line saying the configuration was reloaded");
        CHECK_MESSAGE(!c.collect("dev1", "slow", 0ms).finished(),
                      "the slow stream ended before the reload: the test proves nothing");

        ask_echo(c, "dev1", "after", "after marker");
        CHECK(upstream_system(llm, "after marker") == "New prompt.");

        auto slow = c.collect("dev1", "slow", 15s);
        check_done(slow, slow_text);
        CHECK(slow.count("chunk") == 40);
        CHECK(upstream_system(llm, slow_text) == "Old prompt.");
        CHECK(br.proc().running());
    }

    TEST_CASE("SIGHUP with a broken file logs the error and keeps the running configuration") {
        test_dir dir;
        broker mqtt(dir);
        mock_llm llm(dir);
        auto file = dir.file("bridge.yaml");
        write_file(file, prompt_yaml(mqtt.url(), llm.url(), "Good prompt."));
        bridge br(dir, mqtt, "", with_config(file));
        test_client c(mqtt.url());
        c.subscribe_client("dev1");
        ask_echo(c, "dev1", "b0", "first marker");
        CHECK(upstream_system(llm, "first marker") == "Good prompt.");

        // Line 9, column 18: a temperature out of range.
        write_file(file,
                   prompt_yaml(mqtt.url(), llm.url(), "Broken prompt.") + "    temperature: 7\n");
        auto mark = br.proc().stderr_size();
        br.proc().send_signal(SIGHUP);
        REQUIRE_MESSAGE(
            br.proc().wait_stderr("bridge.yaml:9:18: projects[0].temperature: ", 10s, mark),
            "no error line with file:line:column for the broken file");

        ask_echo(c, "dev1", "b1", "kept marker");
        CHECK(upstream_system(llm, "kept marker") == "Good prompt.");
        CHECK(br.proc().running());

        // Once fixed, the next SIGHUP takes it.
        write_file(file, prompt_yaml(mqtt.url(), llm.url(), "Fixed prompt."));
        mark = br.proc().stderr_size();
        br.proc().send_signal(SIGHUP);
        REQUIRE_MESSAGE(br.proc().wait_stderr("reloaded", 10s, mark),
                        "no log line saying the configuration was reloaded");
        ask_echo(c, "dev1", "b2", "fixed marker");
        CHECK(upstream_system(llm, "fixed marker") == "Fixed prompt.");
    }
}

}  // namespace
}  // namespace llmb::itest
