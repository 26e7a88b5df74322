// The device examples in tools/examples/ against the real bridge: the Python client prints the
// answer exactly, reports an error event, resumes after its broker restarted and cancels on
// Ctrl-C.
#include <csignal>
#include <cstdlib>
#include <optional>

#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// A python3 that can import paho.mqtt: the one on PATH first, then Debian's, whose
// python3-paho-mqtt scripts/install-deps.sh installs (PATH may lead to another Python).
std::optional<std::string> find_python_with_paho() {
    test_dir probe;
    std::vector<std::string> candidates;
    try {
        candidates.push_back(program_path("python3"));
    } catch (const std::exception&) {
    }
    candidates.emplace_back("/usr/bin/python3");
    for (const auto& python : candidates) {
        process p("python-probe", {python, "-c", "import paho.mqtt.client"}, probe.path());
        if (p.wait_exit(30s) == 0)
            return python;
    }
    return std::nullopt;
}

// The python3 to run the example with, looked up once. Without one the test fails on CI (which
// installs it) and is skipped elsewhere with a message; then the caller returns.
std::optional<std::string> python_or_skip() {
    static const auto python = find_python_with_paho();
    if (!python) {
        if (std::getenv("CI") != nullptr)
            FAIL("python3 with paho-mqtt is missing (scripts/install-deps.sh installs it)");
        MESSAGE("skipped: no python3 with paho-mqtt (apt-get install python3-paho-mqtt)");
    }
    return python;
}

// python3 tools/examples/python/ask.py against the stack's broker. --max-packet 256: the packet
// limit of the devices the example is for (the bridge splits chunks to it); --timeout 20 (the
// script's own default is 300 s): a script left waiting says so before the test's deadline.
std::vector<std::string> ask_py(const std::string& python, const stack& st,
                                const std::string& client, const std::string& id,
                                const std::string& prompt) {
    return {python,         LLMB_EXAMPLES_DIR "/python/ask.py",
            "--host",       "127.0.0.1",
            "--port",       std::to_string(st.mqtt.port()),
            "--client",     client,
            "--id",         id,
            "--max-packet", "256",
            "--timeout",    "20",
            prompt};
}

TEST_SUITE("examples") {
    TEST_CASE("ask.py prints the answer exactly through a 256-byte max_packet") {
        const auto python = python_or_skip();
        if (!python)
            return;
        stack st;
        // Watches the same stream, to see that the bridge had to split the text.
        test_client c(st.mqtt.url());
        c.subscribe_client("py1");
        // Pieces of 200 bytes: each text chunk is too large for a 256-byte packet.
        const std::string text = mixed_text() + " \"quoted\" 🎉";
        process ask("ask-py", ask_py(*python, st, "py1", "q1", mock_prompt("echo piece=200", text)),
                    st.dir.path());
        const auto code = ask.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "ask.py did not exit within 30 s");
        INFO("stderr: " << ask.stderr_text());
        CHECK(*code == 0);
        CHECK(ask.stdout_text() == text);

        auto s = c.collect("py1", "q1", 10s);
        check_done(s, text);
        CHECK(s.count("chunk") > 2);
        CHECK(largest_packet(s.messages) <= 256);
    }

    TEST_CASE("ask.py exits non-zero on an error event and names its code") {
        const auto python = python_or_skip();
        if (!python)
            return;
        stack st;
        process ask("ask-py-fault", ask_py(*python, st, "py2", "e1", mock_prompt("fault=http_500")),
                    st.dir.path());
        const auto code = ask.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "ask.py did not exit within 30 s");
        const auto err = ask.stderr_text();
        INFO("stderr: " << err);
        CHECK(*code == 1);
        CHECK(ask.stdout_text().empty());
        CHECK(err.find("upstream_error") != std::string::npos);
        CHECK(err.find("retryable") != std::string::npos);
    }

    TEST_CASE("ask.py resumes after its broker restarted mid-answer and prints it exactly") {
        const auto python = python_or_skip();
        if (!python)
            return;
        stack st;  // a broker without persistence: the restart forgets ask.py's subscription
        // 300 pieces of 4 bytes 10 ms apart: 3 s of answer, so the restart falls inside it.
        const std::string text = numbered_text(1200);
        process ask("ask-py-resume",
                    ask_py(*python, st, "py4", "m1", mock_prompt("echo piece=4 delay_ms=10", text)),
                    st.dir.path());
        REQUIRE_MESSAGE(wait_until([&] { return !ask.stdout_text().empty(); }, 15s),
                        "ask.py printed no text within 15 s; stderr: " << ask.stderr_text());
        st.mqtt.stop();
        st.mqtt.start();
        const auto code = ask.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "ask.py did not exit within 30 s");
        const auto err = ask.stderr_text();
        INFO("stderr: " << err);
        CHECK(err.find("resuming from seq") != std::string::npos);
        CHECK(*code == 0);
        CHECK(ask.stdout_text() == text);
        CHECK(st.mqtt.starts() == 2);
    }

    TEST_CASE("ask.py cancels on SIGINT and exits after the cancelled done") {
        const auto python = python_or_skip();
        if (!python)
            return;
        stack st;
        // 100000 tokens 5 ms apart: over 8 minutes, so only the cancel can end it in time.
        process ask("ask-py-cancel",
                    ask_py(*python, st, "py3", "k1", mock_prompt("tokens=100000 delay_ms=5")),
                    st.dir.path());
        REQUIRE_MESSAGE(wait_until([&] { return !ask.stdout_text().empty(); }, 15s),
                        "ask.py printed no text within 15 s; stderr: " << ask.stderr_text());
        ask.send_signal(SIGINT);
        const auto code = ask.wait_exit(15s);
        REQUIRE_MESSAGE(code.has_value(), "ask.py did not exit within 15 s of SIGINT");
        const auto err = ask.stderr_text();
        INFO("stderr: " << err);
        CHECK(*code == 130);
        CHECK(err.find("cancelled") != std::string::npos);
        CHECK(err.find("incomplete") == std::string::npos);
        CHECK_MESSAGE(st.llm.wait_stat("streams_aborted", 1, 5s),
                      "the mock saw no aborted stream: " << st.llm.stats().dump());
    }
}

}  // namespace
}  // namespace llmb::itest
