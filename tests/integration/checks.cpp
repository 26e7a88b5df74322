#include "checks.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <doctest/doctest.h>

#include "protocol/packet.hpp"

namespace llmb::itest {

using namespace std::chrono_literals;

std::string mock_prompt(std::string_view directives, std::string_view text) {
    return "#mock " + std::string(directives) + "\n" + std::string(text);
}

nlohmann::json echo_request(std::string_view id, std::string_view text,
                            std::string_view directives) {
    nlohmann::json r;
    if (!id.empty()) {
        r["id"] = id;
    }
    r["prompt"] = mock_prompt("echo " + std::string(directives), text);
    return r;
}

nlohmann::json mock_request(std::string_view id, std::string_view directives) {
    nlohmann::json r;
    r["id"] = id;
    r["prompt"] = mock_prompt(directives);
    return r;
}

nlohmann::json search_tools() {
    return nlohmann::json::parse(R"([{"type":"function","function":{
        "name":"search","description":"Searches the web.",
        "parameters":{"type":"object","properties":{
            "query":{"type":"string"},"n":{"type":"integer"}},"required":["query"]}}}])");
}

void check_search_calls(const nlohmann::json& calls, std::size_t count, std::string_view query) {
    INFO("tool_calls: " << calls.dump());
    REQUIRE(calls.is_array());
    REQUIRE(calls.size() == count);
    for (std::size_t i = 0; i < count; ++i) {
        const auto& call = calls[i];
        CHECK(call.value("type", std::string()) == "function");
        CHECK(call["id"].is_string());
        REQUIRE(call["function"].is_object());
        CHECK(call["function"]["name"] == "search");
        REQUIRE(call["function"]["arguments"].is_string());
        auto args =
            nlohmann::json::parse(call["function"]["arguments"].get<std::string>(), nullptr, false);
        REQUIRE(args.is_object());
        CHECK(args["query"] == query);
        CHECK(args["n"] == i);
    }
}

std::string mixed_text() {
    return "Grüße aus Köln — café, naïve façade. 日本語のテキストと中文。한국어 문장. "
           "Emoji 🎉🚀👍🏽🇩🇪 and ∑∞≠ ← arrows. \"double quotes\", 'single', "
           "back\\slash, "
           "a literal \\n, tab\there,\nsecond line\r\nthird line {\"json\":[1,2]} end";
}

std::size_t packet_size(const received& m) {
    return protocol::publish_packet_size(m.topic.size(), m.payload.size(), 0, m.qos,
                                         protocol::mqtt_version::v5);
}

std::size_t largest_packet(const std::vector<received>& messages) {
    std::size_t largest = 0;
    for (const auto& m : messages) {
        largest = std::max(largest, packet_size(m));
    }
    return largest;
}

void check_seqs(const response_stream& s) {
    std::vector<std::uint64_t> seqs;
    for (const auto& m : s.messages) {
        auto j = nlohmann::json::parse(m.payload, nullptr, false);
        if (j.is_object() && j.contains("seq") && j["seq"].is_number_unsigned()) {
            seqs.push_back(j["seq"].get<std::uint64_t>());
        } else {
            FAIL_CHECK("message without an unsigned seq on " << m.topic << ": " << m.payload);
        }
    }
    std::sort(seqs.begin(), seqs.end());
    std::vector<std::uint64_t> expected(seqs.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        expected[i] = i;
    }
    CHECK_MESSAGE(seqs == expected, "seqs are not 0.." << seqs.size() << " without gaps: "
                                                       << nlohmann::json(seqs).dump());
}

void check_well_formed(const response_stream& s) {
    INFO(s.summary());
    REQUIRE_MESSAGE(s.finished(), "no terminal event arrived");
    CHECK(s.assembler.violations().empty());
    CHECK(s.assembler.missing() == 0);
    CHECK(s.other_topics.empty());
    CHECK(s.terminals() == 1);
    const auto& last = s.last();
    std::string type = last.value("type", std::string());
    CHECK_MESSAGE((type == "done" || type == "error"), "the last event is not terminal");
    for (const auto& e : s.events) {
        CHECK(e.value("id", std::string()) == s.id);
    }
    check_seqs(s);
}

void check_done(const response_stream& s, std::string_view text, std::string_view mode,
                std::string_view finish_reason) {
    check_well_formed(s);
    INFO(s.summary());
    REQUIRE(!s.events.empty());
    const auto& start = s.events.front();
    CHECK(start.value("type", std::string()) == "start");
    CHECK(start.value("mode", std::string()) == mode);
    CHECK(s.count("start") == 1);
    const auto& done = s.last();
    REQUIRE(done.value("type", std::string()) == "done");
    CHECK(done.value("finish_reason", std::string()) == finish_reason);
    CHECK(s.text() == text);
    std::string joined;
    std::uint64_t chunks = 0;
    for (const auto& e : s.events) {
        if (e.value("type", std::string()) == "chunk") {
            ++chunks;
            if (e.contains("text")) {
                joined += e["text"].get<std::string>();
            }
        }
    }
    CHECK(joined == text);
    REQUIRE(done.contains("chunks"));
    REQUIRE(done.contains("bytes"));
    CHECK(done["chunks"].get<std::uint64_t>() == chunks);
    CHECK(done["bytes"].get<std::uint64_t>() == text.size());
    REQUIRE(done.contains("usage"));
    if (finish_reason != "cancelled") {
        REQUIRE(done["usage"].is_object());
        CHECK(done["usage"]["prompt_tokens"].is_number_unsigned());
        CHECK(done["usage"]["completion_tokens"].is_number_unsigned());
    }
}

void check_error(const response_stream& s, std::string_view code) {
    check_well_formed(s);
    INFO(s.summary());
    CHECK(s.count("error") == 1);
    const auto& err = s.last();
    REQUIRE(err.value("type", std::string()) == "error");
    CHECK(err.value("code", std::string()) == code);
    CHECK(!err.value("message", std::string()).empty());
    CHECK(err.contains("retryable"));
}

nlohmann::json upstream_request_with(const mock_llm& llm, std::string_view marker) {
    auto all = llm.requests();
    if (!all.is_array()) {
        return nullptr;
    }
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
        if (!it->is_object() || !it->contains("messages") || !(*it)["messages"].is_array()) {
            continue;
        }
        for (const auto& m : (*it)["messages"]) {
            if (m.is_object() && m.contains("content") && m["content"].is_string() &&
                m["content"].get<std::string>().find(marker) != std::string::npos) {
                return *it;
            }
        }
    }
    return nullptr;
}

void check_serving(test_client& c, std::string_view client, std::string_view id) {
    c.subscribe_client(client);
    std::string text = "still serving " + std::string(id) + " ✓";
    c.publish_request(client, echo_request(id, text));
    auto s = c.collect(client, id, 10s);
    check_done(s, text);
}

void check_still_one_terminal(test_client& c, std::vector<response_stream>& streams) {
    for (auto& s : streams) {
        c.refresh(s);
        INFO(s.summary());
        CHECK(s.terminals() == 1);
        CHECK(s.assembler.violations().empty());
    }
}

void check_peak_rss(process& p, std::size_t bound_kb) {
    const auto hwm = proc_status_kb(p.pid(), "VmHWM");
    REQUIRE_MESSAGE(hwm.has_value(), "no VmHWM for " << p.name());
    MESSAGE(p.name() << " peak RSS (VmHWM): " << *hwm << " kB (bound " << bound_kb << " kB)");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    CHECK(*hwm < bound_kb);
#endif
}

std::string numbered_text(std::size_t n) {
    std::string t;
    for (std::size_t i = 0; t.size() < n; ++i)
        t += std::to_string(i) + ",";
    t.resize(n);
    return t;
}

void run_tool(const test_dir& dir, const std::string& tag, std::vector<std::string> argv) {
    argv.front() = program_path(argv.front());
    process p(tag, argv, dir.path());
    const auto code = p.wait_exit(std::chrono::seconds(30));
    REQUIRE_MESSAGE(code == 0, tag << " failed: " << p.stderr_text());
}

}  // namespace llmb::itest
