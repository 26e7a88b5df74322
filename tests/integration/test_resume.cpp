// Resume: a device on a clean session that was away mid-answer asks for the events it missed
// (llm/resume/{client}) and ends with the whole answer once; what the bridge no longer holds is
// answered with gone; malformed resumes get a clear error; the replay memory stays bounded.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <thread>
#include <utility>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::uint64_t seq_of(const received& m) {
    const json j = json::parse(m.payload, nullptr, false);
    return j.is_object() && j.contains("seq") ? j["seq"].get<std::uint64_t>() : UINT64_MAX;
}

std::string resume_payload(std::string_view id, std::uint64_t from_seq) {
    return json{{"id", id}, {"from_seq", from_seq}}.dump();
}

// The messages on topic in c's inbox from position `from` on.
std::vector<received> messages_on(const test_client& c, const std::string& topic,
                                  std::size_t from) {
    std::vector<received> out;
    for (std::size_t i = from; i < c.inbox().size(); ++i) {
        if (c.inbox()[i].topic == topic)
            out.push_back(c.inbox()[i]);
    }
    return out;
}

// Publishes a resume and waits for the message of that seq on topic (the replay's last one,
// or a gone error).
std::optional<received> resume_until(test_client& c, std::string_view client, std::string_view id,
                                     std::uint64_t from_seq, const std::string& topic,
                                     std::uint64_t until_seq) {
    const std::size_t from = c.inbox().size();
    c.publish("llm/resume/" + std::string(client), resume_payload(id, from_seq));
    return c.wait_for(
        topic, [&](const received& m) { return seq_of(m) == until_seq; }, 10s, from);
}

// An error event on filter, from inbox position `from` on.
json wait_error(test_client& c, const std::string& filter, std::size_t from) {
    const auto m = c.wait_for(
        filter,
        [](const received& r) { return r.payload.find("\"type\":\"error\"") != std::string::npos; },
        10s, from);
    REQUIRE_MESSAGE(m.has_value(), "no error on " << filter);
    return json::parse(m->payload);
}

TEST_SUITE("resume") {
    TEST_CASE("a device away for 3 s mid-stream resumes and assembles the whole answer once") {
        stack st;  // the bridge's default settings
        const std::string topic = "llm/response/dev/w1";
        // 400 pieces of 10 bytes, 20 ms apart: 8 s, so the stream runs on during the absence.
        const std::string text = numbered_text(4000);
        std::vector<received> before;
        {
            test_client dev(st.mqtt.url());
            dev.subscribe_client("dev");
            dev.publish_request("dev", echo_request("w1", text, "piece=10 delay_ms=20"));
            REQUIRE(dev.wait_for(
                           topic, [](const received& m) { return seq_of(m) >= 30; }, 10s)
                        .has_value());
            dev.drain();
            before = messages_on(dev, topic, 0);
        }  // the device drops off: a clean session, the broker keeps nothing for it
        std::uint64_t held = 0;  // the device holds seq 0..held-1
        for (const auto& m : before)
            held = std::max(held, seq_of(m) + 1);
        REQUIRE(held >= 31);
        std::this_thread::sleep_for(3s);  // the scenario: the device is away 3 s

        test_client dev(st.mqtt.url());
        dev.subscribe_client("dev");
        const std::size_t log_from = st.br.proc().stderr_size();
        dev.publish("llm/resume/dev", resume_payload("w1", held));
        // Not collect(): the device's new client has no seq 0 of its own.
        REQUIRE(dev.wait_for(
                       topic,
                       [](const received& m) {
                           return m.payload.find("\"type\":\"done\"") != std::string::npos;
                       },
                       20s)
                    .has_value());
        dev.drain();
        const auto after = messages_on(dev, topic, 0);
        CHECK(st.br.proc().wait_stderr("resumed from seq " + std::to_string(held), 5s, log_from));
        // The stream was still running: it went on live after the replay.
        CHECK(st.br.proc().wait_stderr("the stream goes on", 1s, log_from));

        // Events were missed while away, and the replay brought them: the seq right after what
        // the device held arrived.
        const auto got = std::find_if(after.begin(), after.end(),
                                      [&](const received& m) { return seq_of(m) == held; });
        CHECK(got != after.end());

        MESSAGE("held seq 0.." << held - 1 << " before the drop; after the resume " << after.size()
                               << " messages up to seq " << seq_of(after.back()));

        // Everything the device received, before and after, assembled as a device does.
        protocol::response_assembler all;
        std::vector<json> events;
        for (const auto& m : before)
            all.feed(m.payload, events);
        for (const auto& m : after)
            all.feed(m.payload, events);
        INFO("violations: " << (all.violations().empty() ? "" : all.violations().front()));
        CHECK(all.violations().empty());
        REQUIRE(all.finished());
        CHECK(all.missing() == 0);
        CHECK(all.text() == text);
        std::size_t terminals = 0;
        for (const auto& ev : events) {
            const auto type = ev["type"].get<std::string>();
            terminals += type == "done" || type == "error";
        }
        CHECK(terminals == 1);
        CHECK(events.back()["type"] == "done");
        CHECK(events.back()["bytes"] == text.size());
        // Seqs contiguous: every seq from 0 to the done's arrived at least once, none beyond.
        std::vector<bool> seen(events.back()["seq"].get<std::size_t>() + 1, false);
        for (const std::vector<received>* part : {&std::as_const(before), &after}) {
            for (const auto& m : *part) {
                const auto s = seq_of(m);
                REQUIRE(s < seen.size());
                seen[s] = true;
            }
        }
        CHECK(std::count(seen.begin(), seen.end(), false) == 0);
    }

    TEST_CASE("a resume after done replays exactly what was sent, done included") {
        stack st;  // the bridge's default settings
        test_client c(st.mqtt.url());
        c.subscribe_client("dev");
        const std::string topic = "llm/response/dev/t1";
        const std::string text = mixed_text() + mixed_text() + mixed_text();
        auto req = echo_request("t1", text, "piece=40");
        // 200 bytes: the answer goes out as several chunks per piece and the done as frags.
        req["max_packet"] = 200;
        const std::string correlation = std::string("corr\0elation", 12);
        c.publish_request_with("dev", req, {std::nullopt, correlation});
        auto s = c.collect(topic, 15s);
        check_done(s, text);
        std::map<std::uint64_t, std::string> sent;
        for (const auto& m : s.messages)
            sent[seq_of(m)] = m.payload;
        const std::uint64_t last = sent.rbegin()->first;
        REQUIRE(sent.size() == last + 1);
        CHECK(s.messages.back().payload.find("\"type\":\"frag\"") != std::string::npos);

        for (const std::uint64_t from_seq : {std::uint64_t{0}, last - 2}) {
            CAPTURE(from_seq);
            const std::size_t from = c.inbox().size();
            REQUIRE(resume_until(c, "dev", "t1", from_seq, topic, last).has_value());
            const auto again = messages_on(c, topic, from);
            REQUIRE(again.size() == last - from_seq + 1);
            for (std::size_t i = 0; i < again.size(); ++i) {
                CHECK(seq_of(again[i]) == from_seq + i);
                CHECK(again[i].payload == sent[from_seq + i]);
                REQUIRE(again[i].correlation_data.has_value());
                CHECK(*again[i].correlation_data == correlation);
            }
        }
        // Nothing more came: a later request is served and t1's topic stayed quiet.
        const std::size_t from = c.inbox().size();
        check_serving(c, "dev", "after");
        CHECK(messages_on(c, topic, from).empty());
    }

    TEST_CASE("a resume of what the bridge no longer holds gets gone, at the seq asked for") {
        stack_options opts;
        opts.bridge.args = {// 2 KiB (default 256 KiB): a 20 KB answer keeps only its last events.
                            "--resume-max-request-bytes", "2048",
                            // 2 s (default 60 s): the test sees a finished request expire.
                            "--resume-ttl-s", "2"};
        stack st(opts);
        test_client c(st.mqtt.url());
        c.subscribe_client("dev");
        const std::string topic = "llm/response/dev/e1";
        c.publish_request("dev", echo_request("e1", numbered_text(20000), "piece=100"));
        auto s = c.collect(topic, 15s);
        check_done(s, numbered_text(20000));
        const auto done_at = clock_type::now();
        const std::uint64_t last = seq_of(s.messages.back());

        // The first events were evicted to keep the request within 2 KiB.
        std::size_t from = c.inbox().size();
        c.publish("llm/resume/dev", resume_payload("e1", 1));
        json e = wait_error(c, topic, from);
        CHECK(e["code"] == "gone");
        CHECK(e["retryable"] == false);
        CHECK(e["seq"] == 1);
        CHECK(e["message"].get<std::string>().find("oldest held is seq") != std::string::npos);

        // The tail is still held (within the ttl).
        const auto tail = resume_until(c, "dev", "e1", last, topic, last);
        REQUIRE(tail.has_value());
        CHECK(tail->payload == s.messages.back().payload);

        // An id never seen: gone, at the seq the device asked for.
        from = c.inbox().size();
        c.publish("llm/resume/dev", resume_payload("never", 5));
        e = wait_error(c, "llm/response/dev/never", from);
        CHECK(e["code"] == "gone");
        CHECK(e["seq"] == 5);

        // After the ttl the finished request is gone: the resume is answered each time, by the
        // tail until the ttl passed, then by gone.
        json gone;
        const bool expired = wait_until(
            [&] {
                const auto m = resume_until(c, "dev", "e1", last, topic, last);
                REQUIRE(m.has_value());
                gone = json::parse(m->payload);
                return gone["type"] == "error";
            },
            10s, 100ms);
        REQUIRE(expired);
        CHECK(gone["code"] == "gone");
        CHECK(clock_type::now() - done_at >= 2s);
        check_serving(c, "dev", "after");
    }

    TEST_CASE("malformed resumes get a bad_request under a generated id; hostile topics nothing") {
        stack st;  // the bridge's default settings
        test_client c(st.mqtt.url());
        c.subscribe_client("dev");
        c.subscribe("llm/response/other/#");
        const char* const bad[] = {
            "not json",
            "",
            "[]",
            R"({"id":"r1"})",
            R"({"from_seq":1})",
            R"({"id":"r 1","from_seq":1})",
            R"({"id":"r1","from_seq":-1})",
            R"({"id":"r1","from_seq":1.5})",
            R"({"id":"r1","from_seq":"1"})",
        };
        for (const std::string payload : bad) {
            CAPTURE(payload);
            const std::size_t from = c.inbox().size();
            c.publish("llm/resume/dev", payload);
            const json e = wait_error(c, "llm/response/dev/+", from);
            CHECK(e["code"] == "bad_request");
            CHECK(e["seq"] == 0);
            CHECK(e["id"].get<std::string>().rfind("gen-", 0) == 0);
            CHECK(e["message"].get<std::string>().find("resume") != std::string::npos);
        }
        c.publish("llm/resume/dev", std::string(5000, '['));

        // A Response Topic in another client's namespace is refused on the default topic.
        std::size_t from = c.inbox().size();
        c.publish_with("llm/resume/dev", resume_payload("x1", 0),
                       {std::string("llm/response/other/x1"), std::string("c1")});
        json e = wait_error(c, "llm/response/dev/x1", from);
        CHECK(e["code"] == "bad_request");
        // One the device may name gets the gone.
        from = c.inbox().size();
        c.publish_with("llm/resume/dev", resume_payload("x2", 3),
                       {std::string("llm/response/dev/mine"), std::string("c2")});
        const auto mine = c.wait_for(
            "llm/response/dev/mine", [](const received&) { return true; }, 10s, from);
        REQUIRE(mine.has_value());
        REQUIRE(mine->correlation_data.has_value());
        CHECK(*mine->correlation_data == "c2");
        CHECK(json::parse(mine->payload)["code"] == "gone");

        // Topics that are no resume topic of a valid client are not answered at all.
        c.publish("llm/resume/dev/extra", resume_payload("x3", 0));
        c.publish("llm/resume/bad client", resume_payload("x3", 0));
        c.publish("llm/resume/" + std::string(65, 'c'), resume_payload("x3", 0));
        from = c.inbox().size();
        check_serving(c, "dev", "after");
        for (std::size_t i = 0; i < c.inbox().size(); ++i)
            CHECK(c.inbox()[i].topic.rfind("llm/response/other/", 0) != 0);
        for (const auto& m : messages_on(c, "llm/response/dev/x3", 0))
            FAIL("answered on a hostile topic: " << m.payload);
    }

    TEST_CASE("replay memory stays within its bound over 1,000 streams") {
        constexpr std::size_t total = 65536;
        config_stack st(
            // interval_s 1 (default 10): the test reads the replay gauges while streams run.
            "metrics:\n  interval_s: 1\n"
            // 64 KiB (default 16 MiB): 1,000 short answers (about 500 bytes of events each)
            // fill it many times over, so eviction runs all the time.
            "resume:\n  max_total_bytes: " +
            std::to_string(total) + "\n");
        test_client c(st.mqtt.url());
        c.subscribe("llm/response/+/+");
        c.subscribe("llm/metrics");
        constexpr std::size_t n = 1000;
        // One client each: the per-client rate limit and concurrency stay out of the way.
        for (std::size_t i = 0; i < n; ++i) {
            c.publish_request("c" + std::to_string(i),
                              echo_request("b", "short answer " + std::to_string(i), "piece=6"));
        }
        std::size_t dones = 0;
        std::size_t metrics_seen = 0;
        std::uint64_t peak = 0;
        std::size_t scanned = 0;
        const auto scan = [&] {
            for (; scanned < c.inbox().size(); ++scanned) {
                const auto& m = c.inbox()[scanned];
                if (m.topic == "llm/metrics") {
                    const json j = json::parse(m.payload);
                    ++metrics_seen;
                    peak = std::max(peak, j["replay"]["bytes"].get<std::uint64_t>());
                    CHECK(j["replay"]["bytes"] <= total);
                    CHECK(j["replay"]["max_bytes"] == total);
                } else if (m.payload.find("\"type\":\"done\"") != std::string::npos) {
                    ++dones;
                }
            }
        };
        const auto deadline = clock_type::now() + 120s;
        while (dones < n && clock_type::now() < deadline) {
            c.pump(clock_type::now() + 1s);
            scan();
        }
        REQUIRE(dones == n);
        // A metrics message after the last stream ended.
        const std::size_t before = metrics_seen;
        while (metrics_seen == before && clock_type::now() < deadline) {
            c.pump(clock_type::now() + 1s);
            scan();
        }
        REQUIRE(metrics_seen > before);
        MESSAGE("replay bytes at most " << peak << " of " << total << " over " << metrics_seen
                                        << " metrics messages");
        CHECK(peak <= total);
        CHECK(peak >= total / 2);  // the store was in use, not empty

        // Finished requests went oldest first: the first one is gone, the last one replays.
        std::size_t from = c.inbox().size();
        c.publish("llm/resume/c0", resume_payload("b", 0));
        CHECK(wait_error(c, "llm/response/c0/b", from)["code"] == "gone");
        from = c.inbox().size();
        const std::string last_client = "c" + std::to_string(n - 1);
        c.publish("llm/resume/" + last_client, resume_payload("b", 0));
        const auto done = c.wait_for(
            "llm/response/" + last_client + "/b",
            [](const received& m) {
                return m.payload.find("\"type\":\"done\"") != std::string::npos;
            },
            10s, from);
        CHECK(done.has_value());
    }
}

}  // namespace
}  // namespace llmb::itest
