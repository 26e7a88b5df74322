// Request counters, percentiles over the recent window and the metrics JSON
// (daemon/service/metrics.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/config/config.hpp"
#include "daemon/service/metrics.hpp"

using llmb::latency_summary;
using llmb::metrics;
using llmb::metrics_snapshot;
using llmb::request_report;
using llmb::sample_window;
using llmb::protocol::error_code;
using nlohmann::json;

namespace {

request_report done(std::uint64_t ttft, std::uint64_t duration, std::uint64_t chunks = 1,
                    std::uint64_t bytes = 4) {
    request_report r;
    r.how = request_report::end::done;
    r.ttft_ms = ttft;
    r.duration_ms = duration;
    r.chunks = chunks;
    r.bytes = bytes;
    return r;
}

request_report failed(error_code code, std::uint64_t duration) {
    request_report r;
    r.how = request_report::end::error;
    r.code = code;
    r.duration_ms = duration;
    return r;
}

json encoded(const metrics& m) {
    metrics_snapshot s;
    m.fill(s);
    return json::parse(llmb::encode_metrics(s));
}

// The percentile by its definition: the smallest sample v with at least p% of samples <= v.
std::uint64_t by_definition(std::vector<std::uint64_t> v, double p) {
    std::sort(v.begin(), v.end());
    for (const auto x : v) {
        const auto not_greater = std::count_if(v.begin(), v.end(), [x](auto y) { return y <= x; });
        if (static_cast<double>(not_greater) * 100.0 >= p * static_cast<double>(v.size())) {
            return x;
        }
    }
    return v.back();
}

}  // namespace

TEST_CASE("nearest-rank percentiles of 1..100 are the sample at that rank") {
    std::vector<std::uint64_t> v(100);
    std::iota(v.begin(), v.end(), 1);
    CHECK(llmb::nearest_rank(v, 50) == 50);
    CHECK(llmb::nearest_rank(v, 90) == 90);
    CHECK(llmb::nearest_rank(v, 99) == 99);
    CHECK(llmb::nearest_rank(v, 100) == 100);
    CHECK(llmb::nearest_rank(v, 0.5) == 1);
}

TEST_CASE("percentiles of one sample are that sample; of none, count 0") {
    sample_window w(8);
    CHECK(w.summarize().count == 0);
    w.add(42);
    const latency_summary s = w.summarize();
    CHECK(s.count == 1);
    CHECK(s.p50 == 42);
    CHECK(s.p99 == 42);
    CHECK(s.max == 42);
}

TEST_CASE("the window summarizes random samples as the definition says") {
    std::mt19937_64 rng(7);
    for (const std::size_t n : {1U, 2U, 3U, 10U, 99U, 101U, 500U}) {
        sample_window w(1024);
        std::vector<std::uint64_t> v;
        for (std::size_t i = 0; i < n; ++i) {
            v.push_back(rng() % 5000);
            w.add(v.back());
        }
        const auto s = w.summarize();
        INFO("n = " << n);
        CHECK(s.count == n);
        CHECK(s.p50 == by_definition(v, 50));
        CHECK(s.p90 == by_definition(v, 90));
        CHECK(s.p99 == by_definition(v, 99));
        CHECK(s.max == *std::max_element(v.begin(), v.end()));
        CHECK(s.p50 <= s.p90);
        CHECK(s.p90 <= s.p99);
        CHECK(s.p99 <= s.max);
    }
}

TEST_CASE("the window keeps only the newest samples") {
    sample_window w(4);
    for (const std::uint64_t v : {1000U, 1000U, 1000U, 1000U, 1U, 2U, 3U})
        w.add(v);
    auto s = w.summarize();
    CHECK(s.count == 4);
    CHECK(s.max == 1000);  // one of the old ones is still in
    w.add(4);
    s = w.summarize();
    CHECK(s.count == 4);
    CHECK(s.max == 4);
    CHECK(s.p50 == 2);
}

TEST_CASE("requests are counted by outcome and errors by code, rejections included") {
    metrics m(16);
    m.on_finished(done(10, 100, 3, 12));
    m.on_finished(done(20, 200, 2, 8));
    request_report cancelled;
    cancelled.how = request_report::end::cancelled;
    cancelled.chunks = 5;
    cancelled.bytes = 20;
    cancelled.duration_ms = 5000;
    m.on_finished(cancelled);
    m.on_finished(failed(error_code::upstream_error, 7));
    m.on_finished(failed(error_code::upstream_error, 9));
    m.on_rejected(error_code::rate_limited);

    const json j = encoded(m);
    INFO(j.dump());
    CHECK(j["requests"]["served"] == 5);
    CHECK(j["requests"]["done"] == 2);
    CHECK(j["requests"]["cancelled"] == 1);
    CHECK(j["requests"]["error"] == 2);
    CHECK(j["requests"]["rejected"] == 1);
    CHECK(j["errors"] == json{{"rate_limited", 1}, {"upstream_error", 2}});
    CHECK(j["out"]["chunks"] == 10);
    CHECK(j["out"]["bytes"] == 40);
    // Only completed answers are in the percentiles: the cancelled 5000 ms is not.
    CHECK(j["duration_ms"]["count"] == 2);
    CHECK(j["duration_ms"]["max"] == 200);
    CHECK(j["duration_ms"]["p50"] == 100);
    CHECK(j["ttft_ms"]["count"] == 2);
    CHECK(j["ttft_ms"]["p99"] == 20);
    CHECK(j["window"] == 16);
}

TEST_CASE("a done request without text has a duration but no ttft") {
    metrics m;
    request_report r = done(0, 30);
    r.ttft_ms.reset();
    m.on_finished(r);
    const json j = encoded(m);
    CHECK(j["duration_ms"]["count"] == 1);
    CHECK(j["ttft_ms"]["count"] == 0);
    CHECK(j["ttft_ms"]["p50"].is_null());
    CHECK(j["ttft_ms"]["max"].is_null());
}

TEST_CASE("the metrics JSON carries the gauges and backends the caller filled in") {
    metrics_snapshot s;
    s.bridge_id = "b\"1";
    s.version = "1.2.3";
    s.time_s = 1700000000;
    s.uptime_s = 61;
    s.interval_s = 10;
    s.in_flight = 3;
    s.queued = 2;
    s.mqtt_messages = 99;
    s.backends = {{"gpu0", true, 4}, {"gpu1", false, 2}, {"cpu", true, 1}};
    s.replay_bytes = 1234;
    s.replay_entries = 17;
    s.replay_requests = 3;
    s.replay_max_bytes = 4096;
    const std::string text = llmb::encode_metrics(s);
    CHECK(text.find('\n') == std::string::npos);
    const json j = json::parse(text);
    CHECK(j["bridge_id"] == "b\"1");
    CHECK(j["version"] == "1.2.3");
    CHECK(j["time"] == 1700000000);
    CHECK(j["uptime_s"] == 61);
    CHECK(j["interval_s"] == 10);
    CHECK(j["requests"]["in_flight"] == 3);
    CHECK(j["requests"]["queued"] == 2);
    CHECK(j["requests"]["served"] == 0);
    CHECK(j["errors"] == json::object());
    CHECK(j["out"]["mqtt_messages"] == 99);
    CHECK(j["backends"]["up"] == 2);
    CHECK(j["backends"]["down"] == 1);
    REQUIRE(j["backends"]["list"].size() == 3);
    CHECK(j["backends"]["list"][1] == json{{"name", "gpu1"}, {"up", false}, {"slots", 2}});
    CHECK(j["replay"] ==
          json{{"bytes", 1234}, {"entries", 17}, {"requests", 3}, {"max_bytes", 4096}});
}

TEST_CASE("the bridge id and metrics topic follow cluster and metrics settings") {
    llmb::config c;
    c.projects.emplace_back();
    c.projects.front().prefix = "maze";
    c.mqtt.client_id = "host/1+x";
    CHECK(llmb::cluster_bridge_id(c) == "host_1_x");
    CHECK(llmb::metrics_topic(c) == "maze/metrics");

    c.cluster.group = "g";
    CHECK(llmb::metrics_topic(c) == "maze/metrics/host_1_x");
    c.cluster.bridge_id = "b2";
    CHECK(llmb::cluster_bridge_id(c) == "b2");
    CHECK(llmb::metrics_topic(c) == "maze/metrics/b2");

    c.metrics.topic = "ops/llm";
    CHECK(llmb::metrics_topic(c) == "ops/llm");
}
