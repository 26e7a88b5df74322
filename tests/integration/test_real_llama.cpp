// The bridge with its default settings against a REAL llama-server (llama.cpp, tiny models with
// random weights and the real Qwen2 tokenizer and chat template). Optional: it runs when
// LLAMA_FIXTURE_DIR names a directory prepared by the real-llama-server fixture's setup.sh
// (llama.cpp/build/bin/llama-server and models/*.gguf), and says it is skipped otherwise (ctest
// reports it as skipped). The models write random text, so the checks are on structure: event
// order, one terminal, seq, usage and finish_reason, tool calls; never on the words.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string skipped_line = "real_llama: LLAMA_FIXTURE_DIR not set: skipped";

struct fixture {
    fs::path server;
    fs::path models;
};

// The fixture LLAMA_FIXTURE_DIR names; without one, says the case is skipped (for ctest).
std::optional<fixture> find_fixture() {
    const char* dir = std::getenv("LLAMA_FIXTURE_DIR");
    if (dir == nullptr || *dir == '\0') {
        MESSAGE(skipped_line);
        return std::nullopt;
    }
    fixture f;
    const char* bin = std::getenv("LLAMA_SERVER_BIN");
    f.server = bin != nullptr && *bin != '\0' ? fs::path(bin)
                                              : fs::path(dir) / "llama.cpp/build/bin/llama-server";
    f.models = fs::path(dir) / "models";
    // Set but not prepared is a mistake worth a failure, not a skip.
    REQUIRE_MESSAGE(fs::exists(f.server), f.server << " is missing: run the fixture's setup.sh");
    return f;
}

// One llama-server on a free loopback port, as the fixture's start.sh runs it: 4 slots of 512
// tokens, one thread (the fastest on a busy 2-core machine), tools through --jinja.
class llama_server {
public:
    llama_server(const test_dir& dir, const fixture& f, const std::string& model,
                 const std::string& name)
        : port_(free_port()) {
        const fs::path m = f.models / model;
        REQUIRE_MESSAGE(fs::exists(m), m << " is missing: run the fixture's setup.sh");
        proc_ = std::make_unique<process>(
            name,
            std::vector<std::string>{f.server.string(), "--jinja", "-c", "2048", "-np", "4", "-t",
                                     "1", "--host", "127.0.0.1", "--port", std::to_string(port_),
                                     "-m", m.string()},
            dir.path());
        const bool healthy = wait_until(
            [&] {
                try {
                    return http_get(port_, "/health", 1s).status == 200;
                } catch (const std::exception&) {
                    return false;
                }
            },
            60s, 50ms);
        REQUIRE_MESSAGE(healthy, name << " did not answer /health with 200 within 60 s");
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    std::uint16_t port_;
    std::unique_ptr<process> proc_;
};

const char* const chat_model = "tiny-random-qwen2tok.gguf";
const char* const toolcall_model = "tiny-random-qwen2tok-toolcall.gguf";

// A finished streamed answer: start, chunks, done with this finish_reason and the completion
// tokens the server counted; the raw text topic carries the same text.
void check_answer(test_client& c, response_stream& s, std::uint64_t completion_tokens) {
    INFO(s.summary());
    check_done(s, s.text(), "stream", "length");
    CHECK(s.count("chunk") >= 1);
    CHECK(s.last()["usage"]["completion_tokens"] == completion_tokens);
    REQUIRE(c.await_text(s, s.text().size(), 10s));
    CHECK(s.raw_text() == s.text());
}

// Everything a case runs against, on default settings: a broker, the real server with model,
// the bridge pointed at it, and a client subscribed as "real".
struct real_stack {
    real_stack(const fixture& f, const std::string& model, const std::string& name)
        : server(dir, f, model, name), br(dir, mqtt, server.url()), c(mqtt.url()) {
        c.subscribe_client("real");
    }
    test_dir dir;
    broker mqtt{dir};
    llama_server server;
    bridge br;
    test_client c;
};

TEST_SUITE("real_llama") {
    TEST_CASE("default settings: streamed answers, slots from /props, eight requests on four") {
        const auto f = find_fixture();
        if (!f)
            return;  // skipped
        real_stack st(*f, chat_model, "llama-server");
        auto& c = st.c;
        // No slots configured: the bridge reads the server's total_slots.
        CHECK(st.br.proc().wait_stderr("4 slots (total_slots of its /props)", 10s));

        c.publish_request("real",
                          {{"id", "one"}, {"prompt", "Hello, who are you?"}, {"max_tokens", 24}});
        auto s = c.collect("real", "one", 60s);
        check_answer(c, s, 24);

        // Twice the server's slots at once: the bridge queues the rest, every one ends done.
        for (int i = 0; i < 8; ++i) {
            c.publish_request("real", {{"id", "c" + std::to_string(i)},
                                       {"prompt", "Tell me about the number " + std::to_string(i)},
                                       {"max_tokens", 16}});
        }
        for (int i = 0; i < 8; ++i) {
            auto si = c.collect("real", "c" + std::to_string(i), 120s);
            CAPTURE(i);
            check_answer(c, si, 16);
        }
    }

    TEST_CASE("default settings: a prompt over the context size ends in one clear error") {
        const auto f = find_fixture();
        if (!f)
            return;  // skipped
        real_stack st(*f, chat_model, "llama-server");
        auto& c = st.c;
        std::string prompt;
        for (int i = 0; i < 900; ++i)
            prompt += "word ";  // about 900 tokens: over the 512 of a slot
        c.publish_request("real", {{"id", "big"}, {"prompt", prompt}, {"max_tokens", 8}});
        auto s = c.collect("real", "big", 60s);
        INFO(s.summary());
        check_error(s, "upstream_error");
        const auto& err = s.last();
        CHECK(err.value("message", std::string()).find("context") != std::string::npos);
        CHECK(err.value("retryable", true) == false);
        // And the next request is served as usual.
        c.publish_request("real", {{"id", "after"}, {"prompt", "Hi"}, {"max_tokens", 8}});
        auto next = c.collect("real", "after", 60s);
        check_answer(c, next, 8);
    }

    TEST_CASE("default settings: tools get one whole answer with the model's call") {
        const auto f = find_fixture();
        if (!f)
            return;  // skipped
        real_stack st(*f, toolcall_model, "llama-server-toolcall");
        auto& c = st.c;
        const nlohmann::json tools = nlohmann::json::parse(R"([{"type":"function","function":{
            "name":"set_light","description":"Switch a light",
            "parameters":{"type":"object","properties":{
                "room":{"type":"string","enum":["kitchen","hall"]},"on":{"type":"boolean"}},
                "required":["room","on"]}}}])");
        c.publish_request("real", {{"id", "tool"},
                                   {"prompt", "Turn on the light in the hall"},
                                   {"tools", tools},
                                   {"max_tokens", 64}});
        auto s = c.collect("real", "tool", 60s);
        INFO(s.summary());
        check_done(s, "", "whole", "tool_calls");
        const auto* calls = s.first("tool_calls");
        REQUIRE(calls != nullptr);
        REQUIRE((*calls)["tool_calls"].size() == 1);
        const auto& call = (*calls)["tool_calls"][0];
        CHECK(call["function"]["name"] == "set_light");
        const auto args =
            nlohmann::json::parse(call["function"]["arguments"].get<std::string>(), nullptr, false);
        REQUIRE(args.is_object());
        CHECK(args.contains("room"));
        CHECK(args.contains("on"));
    }
}

}  // namespace
}  // namespace llmb::itest
