// The C device library (protocol/device) live: tools/examples/paho_c/llmb_ask.c, a host program
// on Paho C's synchronous client, asks the real bridge with a 256-byte max_packet (a
// PubSubClient's default buffer) and feeds every message it receives to the library.
#include <doctest/doctest.h>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// The answer the mock is given: mixed UTF-8, quotes, backslashes and newlines, and a 600-byte
// word, which as one token is one text delta too large for a 256-byte packet.
std::string device_answer() {
    std::string long_word;
    for (int i = 0; i < 150; ++i) {
        long_word += i % 2 == 0 ? "\xC3\xBC" : "\xE2\x82\xAC\"";  // ü, then € and a quote
    }
    return mixed_text() + " " + long_word + " end.";
}

// llmb-ask against the stack's broker. --max-packet 256 is the example's own default, given
// here for the reader; --timeout 20 (the program's default is 300 s): a program left waiting
// says so before the test's deadline.
std::vector<std::string> llmb_ask(const stack& st, const std::string& client, const std::string& id,
                                  const std::string& prompt) {
    return {LLMB_DEVICE_ASK_PATH,
            "--host",
            "127.0.0.1",
            "--port",
            std::to_string(st.mqtt.port()),
            "--client",
            client,
            "--id",
            id,
            "--max-packet",
            "256",
            "--timeout",
            "20",
            prompt};
}

TEST_SUITE("device") {
    TEST_CASE("the C library on Paho C gets the answer exactly, done in frags, bytes matching") {
        const std::string text = device_answer();
        stack_options opts;
        // A known answer to compare the printed text with (the default is the mock's word list).
        opts.mock_args = {"--answer", text};
        stack st(opts);
        // Watches the same stream, to see what the bridge sent: frags, packet sizes, done.
        test_client c(st.mqtt.url());
        c.subscribe_client("c-dev");
        // A 60-character id: on its response topic a done event (about 240 bytes) does not fit
        // a 256-byte packet, so it comes as frags that the library joins.
        const std::string id = "q-" + std::string(58, 'x');
        // 300 ms before the answer: a done.duration_ms that cannot be 0 by chance.
        process ask("llmb-ask", llmb_ask(st, "c-dev", id, mock_prompt("ttfb_ms=300", "Hi.")),
                    st.dir.path());
        const auto code = ask.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "llmb-ask did not exit within 30 s");
        const auto err = ask.stderr_text();
        INFO("stderr: " << err);
        CHECK(*code == 0);
        CHECK(ask.stdout_text() == text);

        auto s = c.collect("c-dev", id, 10s);
        check_done(s, text);
        CHECK(largest_packet(s.messages) <= 256);
        std::size_t done_frags = 0;
        for (const auto& m : s.messages) {
            const auto event = nlohmann::json::parse(m.payload);
            done_frags += event["type"] == "frag" && event["of"] == "done" ? 1U : 0U;
        }
        CHECK(done_frags >= 2);
        // The long word alone needs three chunks within 256-byte packets (how many tokens share
        // a chunk depends on the load: text joins a chunk that still waits to go out).
        const auto& done = s.last();
        CHECK(s.count("chunk") >= 3);
        // What the library's done callback gave: done.bytes matched, and its duration_ms.
        CHECK(err.find("bytes " + done["bytes"].dump() + " (all received)") != std::string::npos);
        CHECK(done["duration_ms"].get<int>() >= 300);
        CHECK(err.find("duration_ms " + done["duration_ms"].dump() + "\n") != std::string::npos);
    }

    TEST_CASE("the C library on Paho C resumes after its broker restarted mid-answer") {
        stack st;  // a broker without persistence: the restart forgets llmb-ask's subscription
        // 300 pieces of 4 bytes 10 ms apart: 3 s of answer, so the restart falls inside it.
        const std::string text = numbered_text(1200);
        process ask("llmb-ask-resume",
                    llmb_ask(st, "c-dev3", "m1", mock_prompt("echo piece=4 delay_ms=10", text)),
                    st.dir.path());
        REQUIRE_MESSAGE(wait_until([&] { return !ask.stdout_text().empty(); }, 15s),
                        "llmb-ask printed no text within 15 s; stderr: " << ask.stderr_text());
        st.mqtt.stop();
        st.mqtt.start();
        const auto code = ask.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "llmb-ask did not exit within 30 s");
        const auto err = ask.stderr_text();
        INFO("stderr: " << err);
        CHECK(err.find("resuming from seq") != std::string::npos);
        CHECK(*code == 0);
        CHECK(ask.stdout_text() == text);
        CHECK(st.mqtt.starts() == 2);
    }

    TEST_CASE("the C library on Paho C reports an error event and exits 1") {
        stack st;
        process ask("llmb-ask-fault", llmb_ask(st, "c-dev2", "e1", mock_prompt("fault=http_500")),
                    st.dir.path());
        const auto code = ask.wait_exit(30s);
        REQUIRE_MESSAGE(code.has_value(), "llmb-ask did not exit within 30 s");
        const auto err = ask.stderr_text();
        INFO("stderr: " << err);
        CHECK(*code == 1);
        CHECK(ask.stdout_text().empty());
        CHECK(err.find("error: upstream_error") != std::string::npos);
        CHECK(err.find("(retryable)") != std::string::npos);
    }
}

}  // namespace
}  // namespace llmb::itest
