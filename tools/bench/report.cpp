#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

namespace llmb::bench {
namespace {

using json = nlohmann::json;

std::string fmt(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string fmt_int(double v) {
    // Thousands separated by commas: 123,456.
    std::string digits = fmt(v, 0);
    std::string out;
    const std::size_t start = digits[0] == '-' ? 1 : 0;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        out += digits[i];
        const std::size_t left = digits.size() - 1 - i;
        if (i >= start && left > 0 && left % 3 == 0) {
            out += ',';
        }
    }
    return out;
}

struct table {
    std::string title;
    std::vector<std::string> head;
    std::vector<std::vector<std::string>> rows;

    void text(std::ostream& out) const {
        std::vector<std::size_t> w(head.size());
        for (std::size_t c = 0; c < head.size(); ++c) {
            w[c] = head[c].size();
            for (const auto& r : rows) {
                w[c] = std::max(w[c], r[c].size());
            }
        }
        out << "\n" << title << "\n";
        auto line = [&](const std::vector<std::string>& cells) {
            for (std::size_t c = 0; c < cells.size(); ++c) {
                out << (c ? "  " : "  ") << std::string(w[c] - cells[c].size(), ' ') << cells[c];
            }
            out << "\n";
        };
        line(head);
        for (const auto& r : rows) {
            line(r);
        }
    }

    void markdown(std::ostream& out) const {
        out << "\n**" << title << "**\n\n|";
        for (const auto& h : head) {
            out << " " << h << " |";
        }
        out << "\n|";
        for (std::size_t c = 0; c < head.size(); ++c) {
            out << (c == 0 ? " --- |" : " ---: |");
        }
        out << "\n";
        for (const auto& r : rows) {
            out << "|";
            for (const auto& cell : r) {
                out << " " << cell << " |";
            }
            out << "\n";
        }
    }
};

struct target {
    std::string name;
    std::string goal;
    double value;
    std::string shown;
    bool met;
};

double kb_per_stream(const scale_row& s) {
    return s.streams ? (s.rss_kb - s.rss_idle_kb) / static_cast<double>(s.streams) : 0;
}

}  // namespace

void report::write(const std::filesystem::path& dir, std::ostream& out) const {
    auto m = [&](const std::string& what, std::size_t n, const std::string& metric) {
        return median(what + "." + std::to_string(n) + "." + metric);
    };
    auto fraction = [&](std::size_t n) {
        const double lower = std::min(m("broker", n, "chunks_per_s"), m("mock", n, "deltas_per_s"));
        return lower > 0 ? m("relay", n, "chunks_per_s") / lower : 0;
    };
    const int repeats = options.value("repeats", 1);
    const std::string of_runs =
        repeats > 1 ? " (median of " + std::to_string(repeats) + " runs)" : "";

    std::vector<table> tables;
    // The headline: the bridge as it ships (QoS 1, the raw text mirror on); the rows below
    // them differ in what their label says.
    const double ceiling = median("mosquitto.1.msgs_per_s");
    auto of_ceiling = [&](double v) { return ceiling > 0 ? fmt(100 * v / ceiling, 0) + "%" : "-"; };
    table thr{"Relay throughput at full speed, per token (SSE delta) and per PUBLISH" + of_runs,
              {"streams", "bridge", "tokens/s", "PUBLISH/s", "PUBLISH/token", "CPU us/token",
               "CPU us/PUBLISH", "p50 ms", "p99 ms", "broker alone", "mock alone",
               "tokens/s of mosquitto_pub"},
              {}};
    for (const auto& [what, label] : {std::pair<const char*, const char*>{"relay", "defaults"},
                                      {"relay_notext", "text mirror off"}}) {
        for (std::size_t n : streams) {
            if (m(what, n, "tokens_per_s") <= 0) {
                continue;
            }
            thr.rows.push_back(
                {fmt_int(static_cast<double>(n)), label, fmt_int(m(what, n, "tokens_per_s")),
                 fmt_int(m(what, n, "publishes_per_s")), fmt(m(what, n, "publishes_per_token"), 2),
                 fmt(m(what, n, "cpu_us_per_token"), 2), fmt(m(what, n, "cpu_us_per_publish"), 2),
                 fmt(m(what, n, "p50_ms"), 1), fmt(m(what, n, "p99_ms"), 1),
                 fmt_int(m("broker", n, "chunks_per_s")), fmt_int(m("mock", n, "deltas_per_s")),
                 of_ceiling(m(what, n, "tokens_per_s"))});
        }
    }
    table mc{
        "Broker alone with libmosquitto: mosquitto_pub -l to mosquitto_sub, one topic" + of_runs,
        {"messages/s", "mosquitto_pub CPU us/msg", "mosquitto_sub CPU us/msg", "broker CPU us/msg"},
        {}};
    if (ceiling > 0) {
        mc.rows.push_back({fmt_int(ceiling), fmt(median("mosquitto.1.pub_cpu_us_per_msg"), 2),
                           fmt(median("mosquitto.1.sub_cpu_us_per_msg"), 2),
                           fmt(median("mosquitto.1.broker_cpu_us_per_msg"), 2)});
    }
    table lat{
        "Latency from the mock server's write to the subscriber, paced" + of_runs,
        {"streams", "bridge", "tokens/s each", "deltas/s in all", "p50 ms", "p99 ms", "max ms",
         "broker alone p50", "broker alone p99", "mock alone p99", "bridge CPU us/chunk"},
        {}};
    for (const char* load : {"latency_light", "latency", "latency_notext"}) {
        const bool notext = std::string(load) == "latency_notext";
        // The mirror-off row stands beside the same load with defaults: the broker and the mock
        // alone are those of that load.
        const std::string broker = std::string("broker_") + (notext ? "latency" : load);
        const std::string mock = std::string("mock_") + (notext ? "latency" : load);
        for (std::size_t n : streams) {
            const double offered = m(load, n, "offered_per_s");
            if (offered <= 0) {
                continue;  // not measured in this run
            }
            lat.rows.push_back({fmt_int(static_cast<double>(n)),
                                notext ? "text mirror off" : "defaults",
                                fmt_int(offered / static_cast<double>(n)), fmt_int(offered),
                                fmt(m(load, n, "p50_ms"), 2), fmt(m(load, n, "p99_ms"), 2),
                                fmt(m(load, n, "max_ms"), 2), fmt(m(broker, n, "p50_ms"), 2),
                                fmt(m(broker, n, "p99_ms"), 2), fmt(m(mock, n, "p99_ms"), 2),
                                fmt(m(load, n, "cpu_us_per_chunk"), 2)});
        }
    }
    table cpu{"CPU microseconds per chunk at full speed, by program" + of_runs,
              {"streams", "bridge", "broker", "mock", "subscriber", "broker alone: broker",
               "publisher", "subscriber"},
              {}};
    for (std::size_t n : streams) {
        cpu.rows.push_back({fmt_int(static_cast<double>(n)),
                            fmt(m("relay", n, "cpu_us_per_chunk"), 2),
                            fmt(m("relay", n, "broker_cpu_us_per_chunk"), 2),
                            fmt(m("relay", n, "mock_cpu_us_per_chunk"), 2),
                            fmt(m("relay", n, "clients_cpu_us_per_chunk"), 2),
                            fmt(m("broker", n, "broker_cpu_us_per_chunk"), 2),
                            fmt(m("broker", n, "cpu_us_per_chunk"), 2),
                            fmt(m("broker", n, "clients_cpu_us_per_chunk"), 2)});
    }
    // One request at a time of a server paced like a real one (the per-request measurement).
    const bool per_request = m("per_request", 1, "requests_per_s") > 0;
    table pr{
        "Per request at concurrency 1: 64 tokens at 850 tokens/s, one request at a time" + of_runs,
        {"requests/s", "bridge CPU ms/request", "CPU us/token", "PUBLISH/request", "TTFT p50 ms",
         "TTFT p99 ms", "direct p50 ms", "direct p99 ms", "added p50 ms", "added p99 ms"},
        {}};
    if (per_request) {
        auto v = [&](const char* metric, int decimals) {
            return fmt(m("per_request", 1, metric), decimals);
        };
        pr.rows.push_back(
            {v("requests_per_s", 1), fmt(m("per_request", 1, "cpu_us_per_request") / 1e3, 2),
             v("cpu_us_per_token", 1), v("publishes_per_request", 1), v("ttft_p50_ms", 2),
             v("ttft_p99_ms", 2), v("direct_ttft_p50_ms", 2), v("direct_ttft_p99_ms", 2),
             v("added_ttft_p50_ms", 2), v("added_ttft_p99_ms", 2)});
    }
    tables.push_back(thr);
    if (per_request) {
        tables.push_back(pr);
    }
    if (!mc.rows.empty()) {
        tables.push_back(mc);
    }
    tables.push_back(cpu);
    tables.push_back(lat);

    table co{"Coalescing: the same paced streams with flush_ms" + of_runs,
             {"flush_ms", "messages/s", "deltas/s", "p50 ms", "p99 ms"},
             {}};
    for (std::size_t f : {0u, 20u, 100u}) {
        co.rows.push_back({std::to_string(f), fmt_int(m("flush", f, "messages_per_s")),
                           fmt_int(m("flush", f, "deltas_per_s")), fmt(m("flush", f, "p50_ms"), 2),
                           fmt(m("flush", f, "p99_ms"), 2)});
    }
    tables.push_back(co);

    // The session files' cost: only when that measurement ran (100 streams; 10 in the smoke run).
    for (std::size_t n : {100u, 10u}) {
        if (m("sessions", n, "turns_per_s") <= 0) {
            continue;
        }
        table se{
            "Session files: the same paced streams while session turns are written" + of_runs,
            {"streams", "session turns/s", "p50 ms", "p99 ms", "max ms", "bridge CPU us/chunk"},
            {}};
        se.rows.push_back(
            {fmt_int(static_cast<double>(n)), fmt_int(m("sessions", n, "turns_per_s")),
             fmt(m("sessions", n, "p50_ms"), 2), fmt(m("sessions", n, "p99_ms"), 2),
             fmt(m("sessions", n, "max_ms"), 2), fmt(m("sessions", n, "cpu_us_per_chunk"), 2)});
        tables.push_back(se);
    }

    table sc{"Scale: concurrent streams through one fresh bridge",
             {"streams", "streaming at once", "all done", "errors", "RSS before MB",
              "RSS with streams MB", "KB per stream"},
             {}};
    const scale_row* idle = nullptr;
    for (const auto& s : scale) {
        sc.rows.push_back({fmt_int(static_cast<double>(s.streams)),
                           fmt_int(static_cast<double>(s.held)), s.all_done ? "yes" : "no",
                           std::to_string(s.errors), fmt(s.rss_idle_kb / 1024, 1),
                           fmt(s.rss_kb / 1024, 1), fmt(kb_per_stream(s), 1)});
        if (s.cpu_idle_percent >= 0) {
            idle = &s;
        }
    }
    tables.push_back(sc);

    std::vector<target> targets;
    auto has = [&](std::size_t n) {
        return std::find(streams.begin(), streams.end(), n) != streams.end();
    };
    if (has(100)) {
        // The default configuration at saturation: tokens the bridge relays against the messages
        // the broker takes from its own fastest client, and the bridge's CPU per token and per
        // PUBLISH it makes.
        const double tokens = m("relay", 100, "tokens_per_s");
        const bool relayed = tokens > 0;  // (phases left out with --only have no targets)
        if (relayed && ceiling > 0) {
            targets.push_back({"tokens/s at 100 streams, of mosquitto_pub's messages/s", ">= 150%",
                               tokens / ceiling, of_ceiling(tokens), tokens >= 1.5 * ceiling});
        }
        const double per_token = m("relay", 100, "cpu_us_per_token");
        const double per_publish = m("relay", 100, "cpu_us_per_publish");
        if (relayed) {
            targets.push_back({"bridge CPU per token at 100 streams", "<= 15 us", per_token,
                               fmt(per_token, 2) + " us", per_token <= 15});
            targets.push_back({"bridge CPU per PUBLISH at 100 streams", "<= 25 us", per_publish,
                               fmt(per_publish, 2) + " us", per_publish <= 25});
        }
        for (const auto& [load, goal] :
             {std::pair<const char*, double>{"latency_light", 2}, {"latency", 5}}) {
            if (m(load, 100, "offered_per_s") <= 0) {
                continue;
            }
            const double p99 = m(load, 100, "p99_ms");
            targets.push_back({"latency p99 at 100 streams, " +
                                   fmt_int(m(load, 100, "offered_per_s")) + " deltas/s",
                               "<= " + fmt(goal, 0) + " ms", p99, fmt(p99, 2) + " ms",
                               p99 <= goal});
        }
    }
    if (per_request) {
        const double cpu_ms = m("per_request", 1, "cpu_us_per_request") / 1e3;
        const double added = m("per_request", 1, "added_ttft_p50_ms");
        targets.push_back({"bridge CPU per 64-token request at concurrency 1", "<= 4 ms", cpu_ms,
                           fmt(cpu_ms, 2) + " ms", cpu_ms <= 4});
        targets.push_back({"first token added by the bridge at concurrency 1, p50", "<= 1 ms",
                           added, fmt(added, 2) + " ms", added <= 1});
    }
    if (has(1000)) {
        for (const char* load : {"latency_light", "latency"}) {
            if (m(load, 1000, "offered_per_s") <= 0) {
                continue;
            }
            const double p99 = m(load, 1000, "p99_ms");
            targets.push_back({"latency p99 at 1,000 streams, " +
                                   fmt_int(m(load, 1000, "offered_per_s")) + " deltas/s",
                               "<= 10 ms", p99, fmt(p99, 2) + " ms", p99 <= 10});
        }
    }
    for (const auto& s : scale) {
        if (s.streams == 10000) {
            const bool held = s.held == s.streams && s.all_done && s.errors == 0;
            targets.push_back({"10,000 streams held, RSS per stream", "<= 32 KB", kb_per_stream(s),
                               fmt(kb_per_stream(s), 1) + " KB" + (held ? "" : " (not all held)"),
                               held && kb_per_stream(s) <= 32});
        }
    }
    if (idle != nullptr) {
        targets.push_back({"idle CPU", "< 0.1%", idle->cpu_idle_percent,
                           fmt(idle->cpu_idle_percent, 3) + "% over " + fmt(idle->idle_s, 0) + " s",
                           idle->cpu_idle_percent < 0.1});
    }
    table tg{"Targets", {"target", "goal", "measured", "met"}, {}};
    for (const auto& t : targets) {
        tg.rows.push_back({t.name, t.goal, t.shown, t.met ? "yes" : "NO"});
    }
    tables.push_back(tg);

    std::ostringstream md;
    md << "Machine: " << machine.value("cpu", std::string("?")) << ", " << machine.value("cores", 0)
       << " cores, " << machine.value("kernel", std::string("?")) << "; "
       << machine.value("date", std::string()) << "; " << fmt(seconds, 0) << " s.\n";
    if (idle != nullptr && !scale.empty()) {
        md << "Idle bridge: " << fmt(idle->cpu_idle_percent, 3) << "% CPU over "
           << fmt(idle->idle_s, 0) << " s; RSS of a fresh bridge "
           << fmt(scale.front().rss_idle_kb / 1024, 1) << " MB.\n";
    }
    out << "\n" << md.str();
    for (const auto& t : tables) {
        t.text(out);
        t.markdown(md);
    }
    out << "\n";

    json j;
    j["machine"] = machine;
    j["options"] = options;
    j["seconds"] = seconds;
    j["samples"] = samples;
    if (per_request) {
        json pj = json::object();
        for (const char* metric :
             {"requests_per_s", "cpu_us_per_request", "cpu_us_per_token", "publishes_per_request",
              "broker_cpu_us_per_request", "ttft_p50_ms", "ttft_p99_ms", "direct_ttft_p50_ms",
              "direct_ttft_p99_ms", "added_ttft_p50_ms", "added_ttft_p99_ms"}) {
            pj[metric] = m("per_request", 1, metric);
        }
        j["per_request"] = pj;
    }
    for (std::size_t n : streams) {
        j["throughput"].push_back(
            {{"streams", n},
             {"bridge_chunks_per_s", m("relay", n, "chunks_per_s")},
             {"broker_chunks_per_s", m("broker", n, "chunks_per_s")},
             {"mock_deltas_per_s", m("mock", n, "deltas_per_s")},
             {"fraction_of_lower_ceiling", fraction(n)},
             {"bridge_cpu_us_per_chunk", m("relay", n, "cpu_us_per_chunk")},
             {"broker_cpu_us_per_chunk", m("relay", n, "broker_cpu_us_per_chunk")},
             {"mock_cpu_us_per_chunk", m("relay", n, "mock_cpu_us_per_chunk")},
             {"clients_cpu_us_per_chunk", m("relay", n, "clients_cpu_us_per_chunk")},
             {"broker_alone_broker_cpu_us_per_chunk", m("broker", n, "broker_cpu_us_per_chunk")},
             {"broker_alone_publisher_cpu_us_per_chunk", m("broker", n, "cpu_us_per_chunk")},
             {"broker_alone_subscriber_cpu_us_per_chunk",
              m("broker", n, "clients_cpu_us_per_chunk")},
             {"bridge_bytes_per_chunk", m("relay", n, "bytes_per_chunk")},
             {"tokens_per_s", m("relay", n, "tokens_per_s")},
             {"publishes_per_s", m("relay", n, "publishes_per_s")},
             {"bridge_cpu_us_per_token", m("relay", n, "cpu_us_per_token")},
             {"bridge_cpu_us_per_publish", m("relay", n, "cpu_us_per_publish")},
             {"p50_ms", m("relay", n, "p50_ms")},
             {"p99_ms", m("relay", n, "p99_ms")},
             {"text_mirror_off",
              {{"tokens_per_s", m("relay_notext", n, "tokens_per_s")},
               {"publishes_per_s", m("relay_notext", n, "publishes_per_s")},
               {"bridge_cpu_us_per_token", m("relay_notext", n, "cpu_us_per_token")},
               {"bridge_cpu_us_per_publish", m("relay_notext", n, "cpu_us_per_publish")}}},
             {"tokens_per_s_of_mosquitto_pub",
              ceiling > 0 ? m("relay", n, "tokens_per_s") / ceiling : 0},
             {"broker_bytes_per_chunk", m("broker", n, "bytes_per_chunk")}});
        for (const char* load : {"latency_light", "latency"}) {
            const std::string broker = std::string("broker_") + load;
            j["latency"].push_back({{"streams", n},
                                    {"offered_deltas_per_s", m(load, n, "offered_per_s")},
                                    {"p50_ms", m(load, n, "p50_ms")},
                                    {"p99_ms", m(load, n, "p99_ms")},
                                    {"max_ms", m(load, n, "max_ms")},
                                    {"broker_p50_ms", m(broker, n, "p50_ms")},
                                    {"broker_p99_ms", m(broker, n, "p99_ms")},
                                    {"mock_p99_ms", m(std::string("mock_") + load, n, "p99_ms")},
                                    {"bridge_cpu_us_per_chunk", m(load, n, "cpu_us_per_chunk")}});
        }
        if (m("latency_notext", n, "offered_per_s") > 0) {
            j["latency_text_mirror_off"].push_back(
                {{"streams", n},
                 {"offered_deltas_per_s", m("latency_notext", n, "offered_per_s")},
                 {"p50_ms", m("latency_notext", n, "p50_ms")},
                 {"p99_ms", m("latency_notext", n, "p99_ms")},
                 {"max_ms", m("latency_notext", n, "max_ms")},
                 {"bridge_cpu_us_per_chunk", m("latency_notext", n, "cpu_us_per_chunk")}});
        }
    }
    for (std::size_t f : {0u, 20u, 100u}) {
        j["coalescing"].push_back({{"flush_ms", f},
                                   {"messages_per_s", m("flush", f, "messages_per_s")},
                                   {"deltas_per_s", m("flush", f, "deltas_per_s")},
                                   {"p50_ms", m("flush", f, "p50_ms")},
                                   {"p99_ms", m("flush", f, "p99_ms")}});
    }
    for (std::size_t n : {100u, 10u}) {
        if (m("sessions", n, "turns_per_s") > 0) {
            j["sessions"] = {{"streams", n},
                             {"turns_per_s", m("sessions", n, "turns_per_s")},
                             {"p50_ms", m("sessions", n, "p50_ms")},
                             {"p99_ms", m("sessions", n, "p99_ms")},
                             {"max_ms", m("sessions", n, "max_ms")}};
        }
    }
    for (const auto& s : scale) {
        j["scale"].push_back({{"streams", s.streams},
                              {"streaming_at_once", s.held},
                              {"all_done", s.all_done},
                              {"errors", s.errors},
                              {"rss_before_kb", s.rss_idle_kb},
                              {"rss_kb", s.rss_kb},
                              {"kb_per_stream", kb_per_stream(s)}});
    }
    if (idle != nullptr) {
        j["idle"] = {{"seconds", idle->idle_s},
                     {"cpu_percent", idle->cpu_idle_percent},
                     {"fresh_rss_kb", scale.front().rss_idle_kb}};
    }
    j["mosquitto_pub_ceiling"] = {
        {"messages_per_s", ceiling},
        {"mosquitto_pub_cpu_us_per_msg", median("mosquitto.1.pub_cpu_us_per_msg")},
        {"mosquitto_sub_cpu_us_per_msg", median("mosquitto.1.sub_cpu_us_per_msg")},
        {"broker_cpu_us_per_msg", median("mosquitto.1.broker_cpu_us_per_msg")}};
    for (const auto& t : targets) {
        j["targets"].push_back(
            {{"target", t.name}, {"goal", t.goal}, {"value", t.value}, {"met", t.met}});
    }
    std::ofstream(dir / "bench.json") << j.dump(2) << "\n";
    std::ofstream(dir / "bench.md") << md.str();

    // The plot: throughput (log scale) and latency against streams.
    {
        std::ofstream dat(dir / "bench.dat");
        dat << "# streams bridge broker mock | heavy: p50 p99 broker_p50 broker_p99 | light: "
               "p50 p99 broker_p50 broker_p99\n";
        for (std::size_t n : streams) {
            dat << n << " " << m("relay", n, "chunks_per_s") << " "
                << m("broker", n, "chunks_per_s") << " " << m("mock", n, "deltas_per_s");
            for (const char* load : {"latency", "latency_light"}) {
                const std::string broker = std::string("broker_") + load;
                dat << " " << m(load, n, "p50_ms") << " " << m(load, n, "p99_ms") << " "
                    << m(broker, n, "p50_ms") << " " << m(broker, n, "p99_ms");
            }
            dat << "\n";
        }
    }
    {
        std::ofstream gp(dir / "bench.gp");
        gp << "set terminal pngcairo size 1100,450 font 'sans,10'\n"
              "set output 'bench.png'\n"
              "set multiplot layout 1,2 title 'llm-mqtt-bridge: "
           << machine.value("cores", 0) << " cores" << of_runs
           << "'\n"
              "set logscale x\nset grid\nset key top left\nset xlabel 'concurrent streams'\n"
              "set logscale y\nset ylabel 'chunks per second'\nset format y '10^{%L}'\n"
              "set title 'Throughput at full speed'\n"
              "plot 'bench.dat' u 1:3 w lp lw 2 t 'broker alone', "
              "'' u 1:4 w lp lw 2 t 'mock server alone', "
              "'' u 1:2 w lp lw 2 t 'through the bridge'\n"
              "set ylabel 'milliseconds'\nset format y '%g'\n"
              "set title 'Latency, mock write to subscriber (paced)'\n"
              "set logscale y\n"
              "plot 'bench.dat' u 1:6 w lp lw 2 t 'bridge p99, 10,000/s', "
              "'' u 1:5 w lp lw 2 t 'bridge p50, 10,000/s', "
              "'' u 1:10 w lp lw 2 t 'bridge p99, 2,000/s', "
              "'' u 1:9 w lp lw 2 t 'bridge p50, 2,000/s', "
              "'' u 1:8 w lp dt 2 t 'broker alone p99, 10,000/s', "
              "'' u 1:12 w lp dt 2 t 'broker alone p99, 2,000/s'\n"
              "unset multiplot\n";
    }
    const std::string cmd =
        "command -v gnuplot >/dev/null 2>&1 && cd '" + dir.string() + "' && gnuplot bench.gp";
    if (std::system(cmd.c_str()) == 0) {
        out << "Wrote " << (dir / "bench.json").string() << ", " << (dir / "bench.md").string()
            << " and " << (dir / "bench.png").string() << "\n";
    } else {
        out << "Wrote " << (dir / "bench.json").string() << " and " << (dir / "bench.md").string()
            << " (no plot: gnuplot is not installed)\n";
    }
}

}  // namespace llmb::bench
