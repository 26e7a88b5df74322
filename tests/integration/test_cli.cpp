// The llm-mqtt client CLI against the real bridge.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// --timeout 20 (the CLI's default is 300 s): a CLI left waiting says so itself before the
// test's 30 s deadline.
std::vector<std::string> ask(const stack& st, const std::string& client, const std::string& q) {
    return {cli_path(), "ask", "-b", st.mqtt.url(), "-c", client, "--timeout", "20", q};
}

TEST_SUITE("cli") {
    TEST_CASE("llm-mqtt ask prints the answer and exits 0") {
        stack st;
        const std::string text = "Hello from the command line: café 🚀";
        process cli("llm-mqtt-ok", ask(st, "cli1", mock_prompt("echo", text)), st.dir.path());
        auto code = cli.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "llm-mqtt ask did not exit within 30 s");
        INFO("stdout: " << cli.stdout_text());
        INFO("stderr: " << cli.stderr_text());
        CHECK(*code == 0);
        std::string out = cli.stdout_text();
        CHECK((out == text || out == text + "\n"));
    }

    TEST_CASE("llm-mqtt ask exits 1 on an error event") {
        stack st;
        process cli("llm-mqtt-fault", ask(st, "cli2", mock_prompt("fault=http_500")),
                    st.dir.path());
        auto code = cli.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "llm-mqtt ask did not exit within 30 s");
        INFO("stdout: " << cli.stdout_text());
        INFO("stderr: " << cli.stderr_text());
        CHECK(*code == 1);
        CHECK(cli.stdout_text().empty());
        CHECK(cli.stderr_text().find("upstream_error") != std::string::npos);
    }

    TEST_CASE("llm-mqtt ask streams a long answer through a small max_packet") {
        stack st;
        const std::string text = mixed_text();
        // A short client and id keep the topic short enough for the protocol's minimum packet.
        auto argv = ask(st, "c3", mock_prompt("echo piece=50", text));
        argv.insert(argv.end() - 1, {"--max-packet", "128", "--id", "q1"});
        process cli("llm-mqtt-small", argv, st.dir.path());
        auto code = cli.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "llm-mqtt ask did not exit within 30 s");
        INFO("stderr: " << cli.stderr_text());
        CHECK(*code == 0);
        std::string out = cli.stdout_text();
        CHECK((out == text || out == text + "\n"));
    }

    TEST_CASE("the demo's answer: the mock's --answer text, a word per token, printed exactly") {
        const std::string text = "The sky is blue.\n\nIt scatters  blue light most.";
        stack_options opts;
        opts.mock_args = {"--answer", text};
        stack st(opts);
        process cli("llm-mqtt-answer", ask(st, "cli4", "Why is the sky blue?"), st.dir.path());
        auto code = cli.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "llm-mqtt ask did not exit within 30 s");
        INFO("stderr: " << cli.stderr_text());
        CHECK(*code == 0);
        std::string out = cli.stdout_text();
        CHECK((out == text || out == text + "\n"));

        // One token per word, each with the whitespace before it.
        test_client c(st.mqtt.url());
        c.subscribe_client("cli5");
        c.publish_request("cli5", {{"id", "w1"}, {"prompt", "Why?"}});
        auto s = c.collect("cli5", "w1", 10s);
        check_done(s, text);
        CHECK(s.last()["usage"]["completion_tokens"] == 9);
        // A directive that picks another answer still gets it.
        c.publish_request("cli5", {{"id", "w2"}, {"prompt", mock_prompt("tokens=3")}});
        auto words = c.collect("cli5", "w2", 10s);
        CHECK(words.finished());
        CHECK(words.last()["usage"]["completion_tokens"] == 3);
        CHECK(words.text().find("sky") == std::string::npos);
    }
}

}  // namespace
}  // namespace llmb::itest
