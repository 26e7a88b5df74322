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

struct cli_run {
    int code;
    std::string out;
    std::string err;
};

// Runs the CLI to its end (within 30 s, or the test fails).
cli_run run_cli(const stack& st, const std::string& name, const std::vector<std::string>& argv) {
    process cli(name, argv, st.dir.path());
    const auto code = cli.wait_exit(30s);
    REQUIRE_MESSAGE(code.has_value(), "llm-mqtt ask did not exit within 30 s");
    return {*code, cli.stdout_text(), cli.stderr_text()};
}

// The CLI exited 0 and printed exactly text (and a final line end).
void check_printed(const cli_run& r, const std::string& text) {
    INFO("stderr: " << r.err);
    CHECK(r.code == 0);
    CHECK((r.out == text || r.out == text + "\n"));
}

TEST_SUITE("cli") {
    TEST_CASE("llm-mqtt ask prints the answer and exits 0") {
        stack st;
        const std::string text = "Hello from the command line: café 🚀";
        check_printed(run_cli(st, "llm-mqtt-ok", ask(st, "cli1", mock_prompt("echo", text))), text);
    }

    TEST_CASE("llm-mqtt ask exits 1 on an error event") {
        stack st;
        const auto r =
            run_cli(st, "llm-mqtt-fault", ask(st, "cli2", mock_prompt("fault=http_500")));
        INFO("stderr: " << r.err);
        CHECK(r.code == 1);
        CHECK(r.out.empty());
        CHECK(r.err.find("upstream_error") != std::string::npos);
    }

    TEST_CASE("llm-mqtt ask streams a long answer through a small max_packet") {
        stack st;
        const std::string text = mixed_text();
        // A short client and id keep the topic short enough for the protocol's minimum packet.
        auto argv = ask(st, "c3", mock_prompt("echo piece=50", text));
        argv.insert(argv.end() - 1, {"--max-packet", "128", "--id", "q1"});
        check_printed(run_cli(st, "llm-mqtt-small", argv), text);
    }

    TEST_CASE("the demo's answer: the mock's --answer text, a word per token, printed exactly") {
        const std::string text = "The sky is blue.\n\nIt scatters  blue light most.";
        stack_options opts;
        opts.mock_args = {"--answer", text};
        stack st(opts);
        check_printed(run_cli(st, "llm-mqtt-answer", ask(st, "cli4", "Why is the sky blue?")),
                      text);

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
