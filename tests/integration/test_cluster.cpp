// Several bridges in one shared-subscription group: they split the requests, every bridge
// hears every cancel (and resume) but only the owner acts on it, the survivors end the requests of
// a bridge that died with a retryable error that continues its stream, and a shared state directory
// lets any bridge take the next turn of a session.
#include <doctest/doctest.h>

#include <signal.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// A broker, one mock server and n bridges b0..b{n-1} of group g, each with this YAML added to
// its configuration. The backend has slots for every request at once; the per-client limits
// stay at their defaults (a client sends at most 10 requests at once here).
// mosquitto keeps at most 1000 messages for a subscriber that lags (default
// max_queued_messages) and drops the rest: the one collector of all 300 streams lags behind the
// bursts of takeover frags on a slow (sanitized) build, and must lose none of them.
broker_options collector_broker() {
    broker_options bo;
    bo.max_queued_messages = 100000;
    return bo;
}

struct cluster {
    explicit cluster(std::size_t n, const std::string& extra_yaml = "")
        : mqtt(dir, collector_broker()), llm(dir) {
        for (std::size_t i = 0; i < n; ++i) {
            const std::string id = "b" + std::to_string(i);
            bridge_options o;
            o.bridge_id = id;
            o.config = dir.file("bridge-" + id + ".yaml");
            write_file(o.config,
                       "backends:\n"
                       "  - url: " +
                           llm.url() +
                           "\n"
                           // 300 streams of 3 to 9 s must all run at once (about 100 per
                           // bridge); the default 4 slots would queue them for minutes.
                           "    slots: 400\n"
                           // The cluster settings are what the suite is about.
                           "cluster:\n"
                           "  group: g\n"
                           "  bridge_id: " +
                           id + "\n" + extra_yaml);
            bridges.push_back(std::make_unique<bridge>(dir, mqtt, "", o));
        }
    }

    test_dir dir;
    broker mqtt;
    mock_llm llm;
    std::vector<std::unique_ptr<bridge>> bridges;
};

std::string owner_of(const response_stream& s) {
    const auto* start = s.first("start");
    return start != nullptr ? start->value("bridge", std::string()) : std::string();
}

std::string type_of(const received& m) {
    auto j = nlohmann::json::parse(m.payload, nullptr, false);
    return j.is_object() ? j.value("type", std::string()) : std::string();
}

// One request of the load test, followed on its response topic.
struct tracked {
    std::string client;
    std::string id;
    std::string text;         // the answer the mock echoes
    std::string correlation;  // the request's Correlation Data
    protocol::response_assembler assembler;
    std::vector<nlohmann::json> events;
    std::string owner;                  // "bridge" of the start event
    std::size_t raw_starts = 0;         // start messages, duplicates included
    std::size_t raw_terminals = 0;      // done/error events sent (a fragmented one counts once)
    std::size_t terminal_at = 0;        // inbox position where the terminal event was complete
    std::size_t wrong_correlation = 0;  // messages without the request's correlation data
    std::size_t frag_messages = 0;
};

// Follows every response topic of the load test in one client's inbox.
struct load_tracker {
    explicit load_tracker(test_client& client) : c(client) {}

    void scan() {
        for (; scanned < c.inbox().size(); ++scanned) {
            const received& m = c.inbox()[scanned];
            if (m.topic == "llm/status/b1" && !m.retained && !offline_at &&
                m.payload.find("\"offline\"") != std::string::npos) {
                offline_at = scanned;
            }
            auto it = by_topic.find(m.topic);
            if (it == by_topic.end()) {
                continue;
            }
            tracked& t = it->second;
            if (!m.correlation_data || *m.correlation_data != t.correlation) {
                ++t.wrong_correlation;
            }
            auto j = nlohmann::json::parse(m.payload, nullptr, false);
            std::string type = j.is_object() ? j.value("type", std::string()) : std::string();
            t.frag_messages += type == "frag" ? 1U : 0U;
            if (type == "frag" && j.value("part", -1) == 0) {
                type = j.value("of", std::string());  // the first frag of a fragmented event
            }
            if (type == "start") {
                ++t.raw_starts;
                t.owner = j.value("bridge", std::string());
            } else if (type == "done" || type == "error") {
                ++t.raw_terminals;
            }
            const bool was_finished = t.assembler.finished();
            t.assembler.feed(m.payload, t.events);
            if (t.raw_starts == 1 && type == "start") {
                ++starts;
            }
            if (!was_finished && t.assembler.finished()) {
                t.terminal_at = scanned;
                ++terminals;
            }
        }
    }

    bool pump_until(const std::function<bool()>& pred, ms timeout) {
        auto deadline = clock_type::now() + timeout;
        for (;;) {
            scan();
            if (pred()) {
                return true;
            }
            if (!c.pump(deadline)) {
                scan();
                return pred();
            }
        }
    }

    test_client& c;
    std::map<std::string, tracked> by_topic;
    std::size_t scanned = 0;
    std::size_t starts = 0;
    std::size_t terminals = 0;
    std::optional<std::size_t> offline_at;  // inbox position of b1's will
};

// About 240 bytes, different per request: 15 pieces of 16 bytes.
std::string answer_for(const std::string& id) {
    std::string text = "answer " + id + ":";
    while (text.size() < 240) {
        text += " Grüße, 日本語 ✓ and the quick brown fox";
    }
    return text;
}

TEST_SUITE("cluster") {
    TEST_CASE("three bridges split 300 requests; the survivors end the streams of one killed") {
        cluster cl(3);
        test_client c(cl.mqtt.url());
        c.subscribe("llm/response/#");
        c.subscribe("llm/status/#");
        load_tracker lt(c);
        constexpr std::size_t n = 300;
        const auto t0 = clock_type::now();
        for (std::size_t i = 0; i < n; ++i) {
            char client[8];
            std::snprintf(client, sizeof client, "c%02zu", i % 30);
            tracked t;
            t.client = client;
            t.id = "q" + std::to_string(i);
            t.text = answer_for(t.id);
            t.correlation = std::string("corr\0", 5) + t.id;
            // Every fifth request names its own Response Topic.
            std::optional<std::string> response_topic;
            std::string topic = "llm/response/" + t.client + "/" + t.id;
            if (i % 5 == 0) {
                topic = "llm/response/" + t.client + "/via-" + t.id;
                response_topic = topic;
            }
            lt.by_topic.emplace(topic, std::move(t));
            const tracked& tr = lt.by_topic.at(topic);
            // About 3 s per stream; every tenth takes 9 s, so that b1 still has requests in
            // flight when it is killed even if the start events were slow to come.
            const char* pace = i % 10 == 5 ? "piece=16 delay_ms=600" : "piece=16 delay_ms=200";
            c.publish_request_with(tr.client, echo_request(tr.id, tr.text, pace),
                                   {response_topic, tr.correlation});
        }
        REQUIRE_MESSAGE(lt.pump_until([&] { return lt.starts == n; }, 60s),
                        "only " << lt.starts << " of " << n << " requests got a start event");
        const auto started_ms = std::chrono::duration_cast<ms>(clock_type::now() - t0).count();

        std::map<std::string, std::size_t> per_bridge;
        for (const auto& [topic, t] : lt.by_topic) {
            CAPTURE(topic);
            CHECK(t.raw_starts == 1);
            ++per_bridge[t.owner];
        }
        std::string counts;
        for (const auto& [b, k] : per_bridge) {
            counts += " " + (b.empty() ? std::string("(none)") : b) + "=" + std::to_string(k);
        }
        MESSAGE("starts per bridge:" << counts << ", all " << n << " started after " << started_ms
                                     << " ms");
        CHECK(per_bridge.size() == 3);
        CHECK(per_bridge["b0"] > 0);
        CHECK(per_bridge["b1"] > 0);
        CHECK(per_bridge["b2"] > 0);

        // b1 dies without a word; the broker publishes its will.
        std::size_t b1_done_before = 0;
        for (const auto& [topic, t] : lt.by_topic) {
            b1_done_before += t.owner == "b1" && t.raw_terminals > 0 ? 1U : 0U;
        }
        const auto killed = clock_type::now();
        cl.bridges[1]->proc().send_signal(SIGKILL);
        REQUIRE(cl.bridges[1]->proc().wait_exit(5s).has_value());

        const bool all_ended = lt.pump_until([&] { return lt.terminals == n; }, 90s);
        const auto ended_ms = std::chrono::duration_cast<ms>(clock_type::now() - killed).count();
        CHECK_MESSAGE(all_ended, "only " << lt.terminals << " of " << n << " streams ended");
        CHECK_MESSAGE(lt.offline_at.has_value(), "no offline status of b1 was seen");

        // b0 and b2 keep serving; their answers also order every takeover event before them.
        test_client after(cl.mqtt.url());
        std::set<std::string> after_owners;
        for (const char* id : {"after1", "after2"}) {
            after.subscribe_client("late");
            const std::string text = std::string("served after the kill: ") + id;
            after.publish_request("late", echo_request(id, text));
            auto s = after.collect("late", id, 15s);
            check_done(s, text);
            after_owners.insert(owner_of(s));
        }
        CHECK(after_owners.count("b1") == 0);
        // The collector has everything the bridges published before after2's done.
        CHECK(c.wait_for(
                   "llm/response/late/after2",
                   [](const received& m) { return type_of(m) == "done"; }, 15s, lt.scanned)
                  .has_value());
        lt.scan();

        std::size_t taken_over = 0;
        std::size_t takeover_frags = 0;  // frag messages that carried the takeover errors
        std::size_t b1_done = 0;
        for (auto& [topic, t] : lt.by_topic) {
            CAPTURE(topic);
            CAPTURE(t.owner);
            INFO("events: " << nlohmann::json(t.events).dump());
            CHECK(t.assembler.violations().empty());
            CHECK(t.assembler.missing() == 0);
            CHECK(t.wrong_correlation == 0);
            if (!t.assembler.finished()) {
                FAIL_CHECK("the stream did not end");
                continue;
            }
            CHECK_MESSAGE(t.raw_terminals == 1, "terminal events sent: " << t.raw_terminals);
            std::size_t terminal_events = 0;
            for (std::size_t k = 0; k < t.events.size(); ++k) {
                const std::string type = t.events[k].value("type", std::string());
                terminal_events += type == "done" || type == "error" ? 1U : 0U;
                CHECK(t.events[k].value("id", std::string()) == t.id);
                if (k > 0) {
                    CHECK(t.events[k]["seq"].get<std::uint64_t>() ==
                          t.events[k - 1]["seq"].get<std::uint64_t>() + 1);
                }
            }
            CHECK(terminal_events == 1);
            const auto& last = t.events.back();
            const std::string type = last.value("type", std::string());
            if (type == "done") {
                CHECK(last.value("finish_reason", std::string()) == "stop");
                CHECK(t.assembler.text() == t.text);
                CHECK(last["bytes"].get<std::uint64_t>() == t.text.size());
                b1_done += t.owner == "b1" ? 1U : 0U;
            } else {
                CHECK_MESSAGE(t.owner == "b1", "a request of a surviving bridge failed");
                CHECK(type == "error");
                CHECK(last.value("code", std::string()) == "shutting_down");
                CHECK(last.value("retryable", false) == true);
                CHECK_MESSAGE(t.terminal_at > lt.offline_at.value_or(c.inbox().size()),
                              "the error came before b1's will: b1 published it");
                ++taken_over;
                takeover_frags += t.frag_messages;
            }
        }
        MESSAGE("b1 owned " << per_bridge["b1"] << ": " << b1_done_before
                            << " done before the kill, " << b1_done << " done in all, "
                            << taken_over << " ended by a survivor with shutting_down (in "
                            << takeover_frags << " frag messages); " << lt.terminals << " of " << n
                            << " streams ended, the last " << ended_ms << " ms after the kill");
        CHECK(taken_over > 0);
        CHECK(b1_done + taken_over == per_bridge["b1"]);
    }

    TEST_CASE("a cancel reaches the bridge that owns the request") {
        cluster cl(3);
        test_client c(cl.mqtt.url());
        std::vector<response_stream> streams;
        std::set<std::string> owners;
        for (int i = 0; i < 6; ++i) {
            const std::string client = "dev" + std::to_string(i);
            const std::string id = "k" + std::to_string(i);
            CAPTURE(id);
            c.subscribe_client(client);
            c.publish_request(client, mock_request(id, "tokens=100000 delay_ms=5"));
            REQUIRE_MESSAGE(c.wait_first_chunk(client, id, 10s), "no chunk of " << id);
            c.publish_cancel(client, nlohmann::json{{"id", id}}.dump());
            auto s = c.collect(client, id, 10s);
            check_done(s, s.text(), "stream", "cancelled");
            CHECK(s.count("chunk") < 5000);
            owners.insert(owner_of(s));
            streams.push_back(std::move(s));
        }
        MESSAGE("cancelled requests were owned by " << owners.size() << " bridges");
        CHECK(owners.size() >= 2);
        CHECK(owners.count("") == 0);
        CHECK_MESSAGE(cl.llm.wait_stat("streams_aborted", 6, 5s),
                      "the mock saw fewer aborted streams: " << cl.llm.stats().dump());

        // After two more answered requests, still one terminal per cancelled stream.
        check_serving(c, "late", "after1");
        check_serving(c, "late", "after2");
        check_still_one_terminal(c, streams);
    }

    TEST_CASE("a resume is answered by the bridge that holds the request, once") {
        cluster cl(3);
        test_client c(cl.mqtt.url());
        c.subscribe_client("dev");
        std::set<std::string> owners;
        for (int i = 0; i < 6; ++i) {
            const std::string id = "r" + std::to_string(i);
            const std::string topic = "llm/response/dev/" + id;
            CAPTURE(id);
            c.publish_request("dev", echo_request(id, "resumed answer " + id));
            auto s = c.collect("dev", id, 10s);
            check_done(s, "resumed answer " + id);
            owners.insert(owner_of(s));
            const std::size_t from = c.inbox().size();
            c.publish("llm/resume/dev", nlohmann::json{{"id", id}, {"from_seq", 0}}.dump());
            REQUIRE(c.wait_for(
                         topic, [](const received& m) { return type_of(m) == "done"; }, 10s, from)
                        .has_value());
            // A barrier: a later request of the same client is answered after any other
            // bridge would have answered the resume.
            check_serving(c, "dev", "after" + id);
            std::size_t replayed = 0;
            for (std::size_t m = from; m < c.inbox().size(); ++m)
                replayed += c.inbox()[m].topic == topic;
            CHECK(replayed == s.messages.size());  // one replay, not one per bridge
        }
        CHECK(owners.size() >= 2);
        // A request no bridge holds: no bridge can know that another does not, so none answers.
        const std::size_t from = c.inbox().size();
        c.publish("llm/resume/dev", R"({"id":"nobody","from_seq":0})");
        check_serving(c, "dev", "after_nobody");
        for (std::size_t m = from; m < c.inbox().size(); ++m)
            CHECK(c.inbox()[m].topic != "llm/response/dev/nobody");
    }

    TEST_CASE("a session's history is seen by whichever bridge takes the next turn") {
        test_dir state_holder;
        const auto state = state_holder.file("state");
        cluster cl(3, "sessions:\n  state_dir: " + state.string() + "\n  shared: true\n");
        test_client c(cl.mqtt.url());
        c.subscribe_client("dev1");
        std::vector<std::pair<std::string, std::string>> history;  // question, answer
        std::set<std::string> owners;
        for (std::size_t k = 1; k <= 6; ++k) {
            const std::string id = "t" + std::to_string(k);
            const std::string question = "question number " + std::to_string(k);
            CAPTURE(id);
            c.publish_request(
                "dev1",
                {{"id", id}, {"session", "s1"}, {"prompt", mock_prompt("echo_all", question)}});
            auto s = c.collect("dev1", id, 10s);
            check_done(s, s.text());
            owners.insert(owner_of(s));

            const auto up = cl.llm.last_request();
            INFO("upstream request: " << up.dump());
            REQUIRE(up["messages"].is_array());
            const auto& msgs = up["messages"];
            REQUIRE(msgs.size() == 2 * (k - 1) + 1);
            for (std::size_t j = 0; j < history.size(); ++j) {
                CHECK(msgs[2 * j]["role"] == "user");
                CHECK(msgs[2 * j]["content"].get<std::string>().find(history[j].first) !=
                      std::string::npos);
                CHECK(msgs[2 * j + 1]["role"] == "assistant");
                CHECK(msgs[2 * j + 1]["content"] == history[j].second);
            }
            CHECK(msgs.back()["role"] == "user");
            CHECK(msgs.back()["content"].get<std::string>().find(question) != std::string::npos);
            history.emplace_back(question, s.text());
        }
        MESSAGE("6 turns of one session were served by " << owners.size() << " bridges");
        CHECK(owners.size() >= 2);
        CHECK(owners.count("") == 0);
    }
}

}  // namespace
}  // namespace llmb::itest
