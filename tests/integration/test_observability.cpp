// Observability: the retained metrics message counts what was served (outcomes, error codes,
// percentiles, output), each request has one log line with its id, tokens, ttft and outcome,
// `llm-mqtt watch` shows live streams reassembled and `llm-mqtt stats` prints the metrics.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A broker, a mock server and a bridge whose config file publishes metrics every second.
struct metrics_stack : config_stack {
    // interval_s: 1 (default 10): each test waits for a metrics message after its requests.
    metrics_stack() : config_stack("metrics:\n  interval_s: 1\n") {}
};

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

// The bridge's log lines that mention [id].
std::vector<std::string> log_lines(bridge& br, const std::string& id) {
    std::vector<std::string> out;
    for (auto& line : lines_of(br.proc().stderr_text())) {
        if (line.find("[" + id + "]") != std::string::npos) {
            out.push_back(line);
        }
    }
    return out;
}

// The one info/warn line that closes request id (the line with "outcome=").
std::string closing_line(bridge& br, const std::string& id) {
    std::string found;
    int n = 0;
    for (const auto& line : log_lines(br, id)) {
        if (line.find(" outcome=") != std::string::npos) {
            found = line;
            ++n;
        }
    }
    CHECK_MESSAGE(n == 1, "request " << id << " has " << n << " closing log lines");
    return found;
}

std::string number_or_dash(const json& v) {
    return v.is_number_unsigned() ? std::to_string(v.get<std::uint64_t>()) : std::string("-");
}

// Nearest-rank percentile of samples, for the expected values.
std::uint64_t percentile(std::vector<std::uint64_t> v, std::size_t p) {
    std::sort(v.begin(), v.end());
    const std::size_t rank = (p * v.size() + 99) / 100;
    return v.at(std::max<std::size_t>(rank, 1) - 1);
}

void check_latency(const json& got, const std::vector<std::uint64_t>& samples) {
    INFO("latency " << got.dump());
    CHECK(got["count"] == samples.size());
    CHECK(got["p50"] == percentile(samples, 50));
    CHECK(got["p90"] == percentile(samples, 90));
    CHECK(got["p99"] == percentile(samples, 99));
    CHECK(got["max"] == *std::max_element(samples.begin(), samples.end()));
}

// Waits for a metrics message on topic whose requests.served and rejected are these.
json wait_metrics(test_client& c, const std::string& topic, std::uint64_t served,
                  std::uint64_t rejected) {
    json last;
    const auto m = c.wait_for(
        topic,
        [&](const received& r) {
            last = json::parse(r.payload, nullptr, false);
            return last.is_object() && last["requests"]["served"] == served &&
                   last["requests"]["rejected"] == rejected;
        },
        15s);
    REQUIRE_MESSAGE(m.has_value(), "no metrics message with served " << served << " and rejected "
                                                                     << rejected
                                                                     << "; last: " << last.dump());
    return json::parse(m->payload);
}

// The text each [label] line of watch's output streamed, joined per label (start, status and
// summary lines left out), and the summary lines per label.
struct watch_output {
    std::map<std::string, std::string> text;
    std::map<std::string, std::vector<std::string>> summaries;
};

watch_output parse_watch(const std::string& out) {
    watch_output w;
    for (const auto& line : lines_of(out)) {
        if (line.empty() || line.front() != '[') {
            continue;
        }
        const auto close = line.find("] ");
        if (close == std::string::npos) {
            continue;
        }
        const std::string label = line.substr(1, close - 1);
        const std::string rest = line.substr(close + 2);
        if (rest.rfind("done [", 0) == 0 || rest.rfind("error: ", 0) == 0) {
            w.summaries[label].push_back(rest);
        } else if (rest.rfind("start: ", 0) != 0 && rest.rfind("status: ", 0) != 0) {
            w.text[label] += rest;
        }
    }
    return w;
}

TEST_SUITE("observability") {
    TEST_CASE("the metrics message counts outcomes, errors, percentiles and output") {
        metrics_stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev");

        std::vector<response_stream> streams;
        const std::vector<std::string> texts = {"one small answer", "a second, longer answer",
                                                "third: café 🚀"};
        for (std::size_t i = 0; i < texts.size(); ++i) {
            const std::string id = "ok" + std::to_string(i);
            c.publish_request("dev", echo_request(id, texts[i], "delay_ms=2"));
            streams.push_back(c.collect("dev", id, 20s));
            check_done(streams.back(), texts[i]);
        }
        c.publish_request("dev", mock_request("bad", "fault=http_500"));
        streams.push_back(c.collect("dev", "bad", 20s));
        check_error(streams.back(), "upstream_error");

        c.publish_request("dev", mock_request("cut", "tokens=100000 delay_ms=5"));
        REQUIRE_MESSAGE(c.wait_first_chunk("dev", "cut", 10s), "no chunk of cut within 10 s");
        c.publish_cancel("dev", R"({"id":"cut"})");
        streams.push_back(c.collect("dev", "cut", 20s));
        check_done(streams.back(), streams.back().text(), "stream", "cancelled");

        // Not JSON: refused before it runs.
        const std::size_t from = c.inbox().size();
        c.publish_raw_request("dev", "this is not json");
        REQUIRE(c.wait_for(
            "llm/response/dev/+",
            [](const received& r) { return r.payload.find("bad_request") != std::string::npos; },
            10s, from));

        test_client watcher(st.mqtt.url());
        watcher.subscribe("llm/metrics");
        const json m = wait_metrics(watcher, "llm/metrics", 5, 1);
        INFO("metrics: " << m.dump());
        CHECK(m["requests"]["done"] == 3);
        CHECK(m["requests"]["cancelled"] == 1);
        CHECK(m["requests"]["error"] == 1);
        CHECK(m["requests"]["in_flight"] == 0);
        CHECK(m["requests"]["queued"] == 0);
        CHECK(m["errors"] == json{{"bad_request", 1}, {"upstream_error", 1}});
        CHECK(m["interval_s"] == 1);
        CHECK(m["window"] == 1024);
        CHECK(m["version"].is_string());
        CHECK(!m["version"].get<std::string>().empty());
        CHECK(m["uptime_s"].is_number_unsigned());

        // The bridge id is its MQTT client id, as its status says.
        const auto status = st.br.status().wait_for(
            "llm/status",
            [](const received& r) { return r.payload.find("online") != std::string::npos; }, 5s);
        REQUIRE(status.has_value());
        CHECK(m["bridge_id"] == json::parse(status->payload)["client_id"]);

        // Percentiles over the three completed answers, exactly as their done events said.
        std::vector<std::uint64_t> ttft;
        std::vector<std::uint64_t> duration;
        std::uint64_t chunks = 0;
        std::uint64_t bytes = 0;
        std::uint64_t messages = 0;
        for (const auto& s : streams) {
            chunks += s.count("chunk");
            bytes += s.text().size();
            messages += s.messages.size() + s.text_messages.size();
            const json& last = s.last();
            if (last["type"] == "done" && last["finish_reason"] == "stop") {
                ttft.push_back(last["ttft_ms"].get<std::uint64_t>());
                duration.push_back(last["duration_ms"].get<std::uint64_t>());
            }
        }
        REQUIRE(ttft.size() == 3);
        check_latency(m["ttft_ms"], ttft);
        check_latency(m["duration_ms"], duration);
        CHECK(m["out"]["chunks"] == chunks);
        CHECK(m["out"]["bytes"] == bytes);
        CHECK(m["out"]["mqtt_messages"].get<std::uint64_t>() >= messages);

        CHECK(m["backends"]["up"] == 1);
        CHECK(m["backends"]["down"] == 0);
        REQUIRE(m["backends"]["list"].size() == 1);
        CHECK(m["backends"]["list"][0]["up"] == true);

        // The message is retained: a client that subscribes now gets it at once.
        test_client late(st.mqtt.url());
        late.subscribe("llm/metrics");
        const auto kept = late.wait_for(
            "llm/metrics", [](const received& r) { return r.retained; }, 5s);
        CHECK_MESSAGE(kept.has_value(), "no retained metrics message");
    }

    TEST_CASE("each request has one log line with its id, client, tokens, ttft and outcome") {
        metrics_stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev");
        // Many chunks: none of them may be logged at info level.
        c.publish_request("dev", echo_request("lg1", std::string(200, 'x'), "piece=2"));
        auto s = c.collect("dev", "lg1", 20s);
        check_done(s, std::string(200, 'x'));
        c.publish_request("dev", mock_request("lg2", "fault=http_500"));
        auto e = c.collect("dev", "lg2", 20s);
        check_error(e, "upstream_error");

        // lg2 is the only request that fails: its closing line comes after that of lg1.
        REQUIRE(st.br.proc().wait_stderr("outcome=error", 5s));
        const json& done = s.last();
        const std::string line = closing_line(st.br, "lg1");
        INFO("log line: " << line);
        CHECK(line.find(" info ") != std::string::npos);
        CHECK(line.find("client=dev") != std::string::npos);
        CHECK(line.find("outcome=done") != std::string::npos);
        CHECK(line.find("chunks=" + std::to_string(s.count("chunk"))) != std::string::npos);
        CHECK(line.find("bytes=200") != std::string::npos);
        CHECK(line.find("prompt_tokens=" + number_or_dash(done["usage"]["prompt_tokens"])) !=
              std::string::npos);
        CHECK(line.find("completion_tokens=" +
                        number_or_dash(done["usage"]["completion_tokens"])) != std::string::npos);
        CHECK(done["usage"]["completion_tokens"].is_number_unsigned());
        CHECK(line.find("ttft_ms=" + number_or_dash(done["ttft_ms"])) != std::string::npos);
        std::size_t info_lines = 0;
        for (const auto& l : log_lines(st.br, "lg1")) {
            info_lines += l.find(" info ") != std::string::npos ? 1U : 0U;
        }
        CHECK_MESSAGE(info_lines == 1,
                      s.count("chunk") << " chunks gave " << info_lines << " info lines for lg1");

        const std::string failed = closing_line(st.br, "lg2");
        INFO("log line: " << failed);
        CHECK(failed.find("outcome=error") != std::string::npos);
        CHECK(failed.find("prompt_tokens=- completion_tokens=-") != std::string::npos);
        CHECK(failed.find("ttft_ms=-") != std::string::npos);
        CHECK(failed.find("upstream_error") != std::string::npos);
    }

    TEST_CASE("llm-mqtt watch shows two interleaved streams reassembled") {
        stack st;
        process watch(
            "llm-mqtt-watch",
            {cli_path(), "watch", "--broker", st.mqtt.url(), "--count", "2", "--timeout", "30"},
            st.dir.path());
        REQUIRE_MESSAGE(watch.wait_stderr("[watching", 10s), "watch did not subscribe");

        test_client c(st.mqtt.url());
        c.subscribe_client("dev");
        c.subscribe_client("pad");
        const std::string a = "alpha streams its words slowly, one piece at a time";
        const std::string b = "bravo answers at the same time: déjà vu 🚀";
        c.publish_request("dev", echo_request("w1", a, "piece=3 delay_ms=3"));
        c.publish_request("pad", echo_request("w2", b, "piece=3 delay_ms=3"));
        auto s1 = c.collect("dev", "w1", 20s);
        auto s2 = c.collect("pad", "w2", 20s);
        check_done(s1, a);
        check_done(s2, b);

        const auto code = watch.wait_exit(20s);
        REQUIRE_MESSAGE(code.has_value(), "watch did not leave after 2 requests");
        const std::string out = watch.stdout_text();
        INFO("watch output:\n" << out);
        INFO("watch stderr:\n" << watch.stderr_text());
        CHECK(*code == 0);
        const auto w = parse_watch(out);
        CHECK(w.text.at("dev/w1") == a);
        CHECK(w.text.at("pad/w2") == b);
        REQUIRE(w.summaries.count("dev/w1") == 1);
        REQUIRE(w.summaries.count("pad/w2") == 1);
        CHECK(w.summaries.at("dev/w1").size() == 1);
        CHECK(w.summaries.at("dev/w1").front().rfind("done [stop", 0) == 0);
        CHECK(w.summaries.at("pad/w2").front().rfind("done [stop", 0) == 0);
        CHECK(watch.stderr_text().find("violation") == std::string::npos);
    }

    TEST_CASE("llm-mqtt watch reorders, drops duplicates and joins frags") {
        test_dir dir;
        broker mqtt(dir);
        process watch(
            "llm-mqtt-watch",
            {cli_path(), "watch", "--broker", mqtt.url(), "--count", "1", "--timeout", "20"},
            dir.path());
        REQUIRE_MESSAGE(watch.wait_stderr("[watching", 10s), "watch did not subscribe");

        // A stream as a bridge could deliver it: seq 2 before 1, seq 1 twice, and the done
        // event in two frags (the event has the seq of its first frag).
        const std::string done =
            R"({"id":"f1","seq":3,"type":"done","finish_reason":"stop","usage":null,)"
            R"("chunks":2,"bytes":12,"duration_ms":9,"ttft_ms":2,"tokens_per_second":null})";
        const std::size_t half = done.size() / 2;
        const auto frag = [&](int seq, int part, const std::string& data) {
            return json{{"id", "f1"},   {"seq", seq}, {"type", "frag"}, {"of", "done"},
                        {"part", part}, {"parts", 2}, {"data", data}}
                .dump();
        };
        test_client c(mqtt.url());
        const std::string topic = "llm/response/x/f1";
        c.publish(topic, R"({"id":"f1","seq":0,"type":"start","model":"m","mode":"stream"})");
        c.publish(topic, R"({"id":"f1","seq":2,"type":"chunk","text":"world"})");
        c.publish(topic, R"({"id":"f1","seq":1,"type":"chunk","text":"hello, "})");
        c.publish(topic, R"({"id":"f1","seq":1,"type":"chunk","text":"hello, "})");
        c.publish(topic, frag(3, 0, done.substr(0, half)));
        c.publish(topic, frag(4, 1, done.substr(half)));

        const auto code = watch.wait_exit(20s);
        REQUIRE_MESSAGE(code.has_value(), "watch did not leave after the request ended");
        INFO("watch output:\n" << watch.stdout_text());
        INFO("watch stderr:\n" << watch.stderr_text());
        CHECK(*code == 0);
        const auto w = parse_watch(watch.stdout_text());
        CHECK(w.text.at("x/f1") == "hello, world");
        REQUIRE(w.summaries.count("x/f1") == 1);
        CHECK(w.summaries.at("x/f1").front().rfind("done [stop · 2 chunks · 12 bytes", 0) == 0);
        CHECK(watch.stderr_text().find("violation") == std::string::npos);
    }

    TEST_CASE("llm-mqtt watch shows an error and leaves at its timeout") {
        stack st;
        process watch("llm-mqtt-watch",
                      {cli_path(), "watch", "--broker", st.mqtt.url(), "--client", "dev", "--count",
                       "2", "--timeout", "5"},
                      st.dir.path());
        REQUIRE_MESSAGE(watch.wait_stderr("[watching", 10s), "watch did not subscribe");
        test_client c(st.mqtt.url());
        c.subscribe_client("dev");
        c.publish_request("dev", mock_request("e1", "fault=http_500"));
        check_error(c.collect("dev", "e1", 20s), "upstream_error");
        // Only one of the two requests watch waits for ever comes: at its timeout it exits 3.
        const auto code = watch.wait_exit(20s);
        REQUIRE(code.has_value());
        INFO("watch output:\n" << watch.stdout_text());
        CHECK(*code == 3);
        const auto w = parse_watch(watch.stdout_text());
        REQUIRE(w.summaries.count("dev/e1") == 1);
        CHECK(w.summaries.at("dev/e1").front().rfind("error: upstream_error", 0) == 0);
    }

    TEST_CASE("llm-mqtt stats prints the retained metrics as a table or JSON") {
        metrics_stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("dev");
        c.publish_request("dev", echo_request("s1", "counted"));
        check_done(c.collect("dev", "s1", 20s), "counted");
        c.publish_request("dev", echo_request("s2", "counted too"));
        check_done(c.collect("dev", "s2", 20s), "counted too");
        test_client watcher(st.mqtt.url());
        watcher.subscribe("llm/metrics");
        wait_metrics(watcher, "llm/metrics", 2, 0);

        process table("llm-mqtt-stats", {cli_path(), "stats", "--broker", st.mqtt.url()},
                      st.dir.path());
        auto code = table.wait_exit(15s);
        REQUIRE(code.has_value());
        INFO("stats output:\n" << table.stdout_text() << table.stderr_text());
        CHECK(*code == 0);
        CHECK(table.stdout_text().find("served        2 (2 done, 0 cancelled, 0 error)") !=
              std::string::npos);
        CHECK(table.stdout_text().find("errors        none") != std::string::npos);

        process raw("llm-mqtt-stats-json",
                    {cli_path(), "stats", "--broker", st.mqtt.url(), "--json"}, st.dir.path());
        code = raw.wait_exit(15s);
        REQUIRE(code.has_value());
        CHECK(*code == 0);
        const json m = json::parse(raw.stdout_text(), nullptr, false);
        REQUIRE_MESSAGE(m.is_object(), "not one JSON object: " << raw.stdout_text());
        CHECK(m["requests"]["served"] == 2);

        process none("llm-mqtt-stats-none",
                     {cli_path(), "stats", "--broker", st.mqtt.url(), "--prefix", "elsewhere",
                      "--timeout", "1"},
                     st.dir.path());
        code = none.wait_exit(15s);
        REQUIRE(code.has_value());
        CHECK(*code == 1);
        CHECK(none.stdout_text().empty());
        CHECK(none.stderr_text().find("no metrics message on elsewhere/metrics") !=
              std::string::npos);
    }
}

}  // namespace
}  // namespace llmb::itest
