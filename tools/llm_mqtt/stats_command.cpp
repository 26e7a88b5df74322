#include "stats_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <vector>

#include "broker_run.hpp"
#include "exit_codes.hpp"
#include "inbound_queue.hpp"

namespace llmb::cli {

namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

// After the first message, how long a quiet broker means that every retained one has come.
constexpr auto settle = std::chrono::milliseconds(300);

// A value of m at a path of keys, as text; "?" when absent.
std::string at(const json& m, std::initializer_list<const char*> path) {
    const json* v = &m;
    for (const char* key : path) {
        if (!v->is_object()) {
            return "?";
        }
        const auto it = v->find(key);
        if (it == v->end()) {
            return "?";
        }
        v = &*it;
    }
    if (v->is_string()) {
        return v->get<std::string>();
    }
    return v->is_null() ? std::string("-")
                        : v->dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string duration_text(std::int64_t s) {
    if (s < 0) {
        return "?";
    }
    char buf[64];
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
    } else if (s < 3600) {
        std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(s / 60),
                      static_cast<long long>(s % 60));
    } else if (s < 86400) {
        std::snprintf(buf, sizeof buf, "%lldh %02lldm", static_cast<long long>(s / 3600),
                      static_cast<long long>(s / 60 % 60));
    } else {
        std::snprintf(buf, sizeof buf, "%lldd %02lldh", static_cast<long long>(s / 86400),
                      static_cast<long long>(s / 3600 % 24));
    }
    return buf;
}

std::string latency_row(const json& m, const char* key) {
    const std::string count = at(m, {key, "count"});
    if (count == "0") {
        return "- (no completed request yet)";
    }
    return "p50 " + at(m, {key, "p50"}) + " ms, p90 " + at(m, {key, "p90"}) + " ms, p99 " +
           at(m, {key, "p99"}) + " ms, max " + at(m, {key, "max"}) + " ms (last " + count +
           (count == "1" ? " request)" : " requests)");
}

void row(std::string& out, const char* label, const std::string& value) {
    char head[32];
    std::snprintf(head, sizeof head, "%-13s ", label);
    out += head + value + "\n";
}

// Prints what arrived, in topic order.
int report(const stats_options& opt, const std::map<std::string, std::string>& found) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    bool first = true;
    int unreadable = 0;
    for (const auto& [topic, payload] : found) {
        if (opt.json_output) {
            std::printf("%s\n", payload.c_str());
            continue;
        }
        const json m = json::parse(payload, nullptr, false);
        if (!m.is_object()) {
            ++unreadable;
            std::fprintf(stderr, "error: %s does not hold a metrics message (not a JSON object)\n",
                         topic.c_str());
            continue;
        }
        std::printf("%s%s", first ? "" : "\n", format_metrics(topic, m, now).c_str());
        first = false;
    }
    std::fflush(stdout);
    return unreadable == static_cast<int>(found.size()) ? exit_code::error_event : exit_code::done;
}

int stats(const stats_options& opt, broker_client& client, inbound_queue& queue) {
    std::vector<std::string> filters;
    if (opt.topic) {
        filters.push_back(*opt.topic);
    } else {
        filters = {opt.prefix + "/metrics", opt.prefix + "/metrics/+"};
    }
    client.connect();
    for (const auto& f : filters) {
        client.subscribe(f);
    }
    std::map<std::string, std::string> found;  // topic -> payload
    const auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                  std::chrono::duration<double>(opt.timeout_s));
    auto until = deadline;
    for (;;) {
        auto item = queue.pop_until(until);
        if (!item) {
            break;
        }
        if (item->what == inbound::kind::signal) {
            return 128 + item->signo;
        }
        if (item->what == inbound::kind::connection_lost) {
            std::fprintf(stderr, "error: lost the connection to the broker: %s\n",
                         item->cause.c_str());
            return exit_code::usage;
        }
        if (item->msg->get_payload().empty()) {
            continue;  // a cleared retained message
        }
        found[item->msg->get_topic()] = item->msg->get_payload_str();
        until = std::min(deadline, clock_type::now() + settle);
    }
    if (found.empty()) {
        std::string where = filters.front();
        for (std::size_t i = 1; i < filters.size(); ++i) {
            where += " or " + filters[i];
        }
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", opt.timeout_s);
        std::fprintf(stderr,
                     "error: no metrics message on %s within %s s (is a bridge running with "
                     "metrics.interval_s above 0, with this prefix?)\n",
                     where.c_str(), seconds);
        return exit_code::error_event;
    }
    return report(opt, found);
}

}  // namespace

std::string format_metrics(const std::string& topic, const json& m, std::int64_t now_s) {
    std::string out;
    row(out, "bridge", at(m, {"bridge_id"}) + " (version " + at(m, {"version"}) + ") on " + topic);
    std::string updated = "?";
    if (const auto t = m.find("time"); t != m.end() && t->is_number_integer()) {
        updated = duration_text(now_s - t->get<std::int64_t>()) + " ago";
    }
    std::string uptime = "?";
    if (const auto u = m.find("uptime_s"); u != m.end() && u->is_number_integer()) {
        uptime = duration_text(u->get<std::int64_t>());
    }
    row(out, "updated", updated + " (every " + at(m, {"interval_s"}) + " s), up " + uptime);
    row(out, "served",
        at(m, {"requests", "served"}) + " (" + at(m, {"requests", "done"}) + " done, " +
            at(m, {"requests", "cancelled"}) + " cancelled, " + at(m, {"requests", "error"}) +
            " error)");
    row(out, "rejected", at(m, {"requests", "rejected"}));
    row(out, "in flight",
        at(m, {"requests", "in_flight"}) + " (" + at(m, {"requests", "queued"}) +
            " waiting for a backend slot)");
    std::string errors;
    if (const auto e = m.find("errors"); e != m.end() && e->is_object()) {
        for (const auto& [code, n] : e->items()) {
            errors += (errors.empty() ? "" : ", ") + code + " " + n.dump();
        }
    }
    row(out, "errors", errors.empty() ? std::string("none") : errors);
    row(out, "ttft", latency_row(m, "ttft_ms"));
    row(out, "duration", latency_row(m, "duration_ms"));
    row(out, "output",
        at(m, {"out", "chunks"}) + " chunks, " + at(m, {"out", "bytes"}) + " bytes of text, " +
            at(m, {"out", "mqtt_messages"}) + " MQTT messages");
    std::string backends =
        at(m, {"backends", "up"}) + " up, " + at(m, {"backends", "down"}) + " down";
    if (const auto b = m.find("backends"); b != m.end() && b->is_object()) {
        const auto list = b->find("list");
        if (list != b->end() && list->is_array() && !list->empty()) {
            backends += ":";
            for (const auto& one : *list) {
                backends += " " + at(one, {"name"}) +
                            (one.value("up", false) ? std::string(" (up)") : " (DOWN)");
            }
        }
    }
    row(out, "backends", backends);
    return out;
}

stats_parse_result parse_stats_options(std::span<const std::string_view> args,
                                       const std::string& default_broker) {
    stats_options opt;
    opt.broker = default_broker;
    command_syntax syntax;
    syntax.flags = {{"", "--json", opt.json_output}};
    syntax.options = value_options(opt, {{"", "--topic",
                                          [&opt](const std::string& v) -> std::string_view {
                                              if (v.empty() || v.find('#') != std::string::npos) {
                                                  return "expected a topic or a filter with '+'";
                                              }
                                              opt.topic = v;
                                              return {};
                                          }},
                                         timeout_option(opt.timeout_s)});
    return parse_options(args, syntax, opt);
}

std::string_view stats_usage() noexcept {
    return R"(usage: llm-mqtt stats [options]

Reads the bridges' retained metrics messages ({prefix}/metrics, and {prefix}/metrics/+ where
bridges run as a cluster) and prints each as a table.

  -b, --broker URL       broker (default $LLM_MQTT_BROKER or tcp://127.0.0.1:1883)
      --prefix P         topic prefix (default llm)
      --topic T          read this topic (or filter with '+') instead
      --json             print each message as it is, one JSON line each
      --timeout SEC      how long to wait for a message (default 3)
      --mqtt-version V   auto (default: 5, or 3.1.1 for a broker that refuses 5), 5
                         or 3.1.1
  -h, --help             this text

Exit status: 0 shown, 1 no metrics message within the timeout, 2 usage or connection error.
)";
}

int run_stats(const stats_options& opt, const std::string& client_id) {
    return run_with_broker(opt, client_id, std::bind_front(stats, std::cref(opt)));
}

}  // namespace llmb::cli
