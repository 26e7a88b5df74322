#include "ceiling.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace llmb::bench {
namespace {

using namespace std::chrono_literals;

// The CPU seconds that `times` prints for the shell's children as its last line, e.g.
// "0m0.512s 0m0.048s" (user, system), in nanoseconds; 0 when there is no such line. The tools
// run as children of a shell that reports them when they end: /proc/<pid>/stat of an exited,
// unreaped process does not count a single-threaded process's time.
std::int64_t children_cpu_ns(const std::string& err) {
    const auto end = err.find_last_not_of('\n');
    if (end == std::string::npos) {
        return 0;
    }
    const auto start = err.rfind('\n', end);
    const std::string line = err.substr(start == std::string::npos ? 0 : start + 1, end + 1);
    unsigned um = 0, sm = 0;
    double us = 0, ss = 0;
    if (std::sscanf(line.c_str(), "%um%lfs %um%lfs", &um, &us, &sm, &ss) != 4) {
        return 0;
    }
    return static_cast<std::int64_t>((um * 60.0 + us + sm * 60.0 + ss) * 1e9);
}

std::string quoted(const std::string& s) {
    return "'" + s + "'";
}

}  // namespace

mosquitto_ceiling run_mosquitto_ceiling(bench_env& env, std::size_t n, std::size_t bytes_per_msg,
                                        int qos) {
    mosquitto_ceiling r;
    r.sent = n;
    const std::string topic = "llm/ceiling/" + std::to_string(env.next_ids(1));
    const std::string port = std::to_string(env.mqtt().port());
    const std::string q = std::to_string(qos);

    // The lines: chunk-shaped JSON of the size the bridge's chunks had.
    const auto lines = env.dir().file(topic.substr(topic.rfind('/') + 1) + "-lines.txt");
    {
        std::ofstream out(lines);
        const std::string head = "{\"id\":\"r0\",\"type\":\"chunk\",\"text\":\"";
        for (std::size_t i = 0; i < n; ++i) {
            std::string line = head + std::to_string(i) + " ";
            line.resize(std::max(line.size(), bytes_per_msg > 2 ? bytes_per_msg - 2 : 0), 'x');
            out << line << "\"}\n";
        }
    }

    // Both run through sh, found on PATH; the shell prints their CPU times (`times`) to stderr
    // when they end. --nodelay, as the bridge sets TCP_NODELAY on its own socket: otherwise the
    // subscriber's acknowledgements wait behind Nagle's algorithm and hold the broker's window
    // (about 1,000 messages/s instead of tens of thousands).
    // A retained message tells when the subscriber has subscribed: it is its first line.
    env.pub().publish(topic, "ready", 1, true);
    env.pub().flush(10s);
    itest::process sub("mosquitto_sub-" + topic.substr(topic.rfind('/') + 1),
                       {"/bin/sh", "-c",
                        "mosquitto_sub -V 5 --nodelay -h 127.0.0.1 -p " + port + " -q " + q +
                            " -t " + quoted(topic) + " -C " + std::to_string(n + 1) +
                            " -F '%r %U'; rc=$?; times >&2; exit $rc"},
                       env.dir().path());
    itest::wait_until([&] { return !sub.stdout_text().empty(); }, 10s, 5ms);
    const auto cpu0 = process_cpu_ns(env.mqtt().proc().pid()).value_or(0);
    // mosquitto_pub reads the lines from stdin. At the end of its input it disconnects without
    // waiting for what it has not sent yet (mosquitto 2.0.11 loses about two thirds of 100,000
    // lines so), so its input stays open until the subscriber has them all (at most 120 s); the
    // inner shell times mosquitto_pub alone.
    const std::string wait_for_all =
        "i=0; while [ \"$(wc -l < " + quoted(sub.stdout_path().string()) + ")\" -le " +
        std::to_string(n) + " ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done";
    itest::process pub("mosquitto_pub-" + topic.substr(topic.rfind('/') + 1),
                       {"/bin/sh", "-c",
                        "{ cat " + quoted(lines.string()) + "; " + wait_for_all + "; } | sh -c " +
                            quoted("mosquitto_pub -V 5 --nodelay -h 127.0.0.1 -p " + port + " -q " +
                                   q + " -t " + topic + " -l; rc=$?; times >&2; exit $rc")},
                       env.dir().path());
    const auto pub_status = pub.wait_exit(150s);
    const auto sub_status = sub.wait_exit(pub_status ? 30s : 1s);
    const auto cpu1 = process_cpu_ns(env.mqtt().proc().pid()).value_or(0);
    if (!sub_status) {
        sub.terminate();
    }
    if (!pub_status) {
        pub.terminate();
    }
    const std::int64_t pub_ns = children_cpu_ns(pub.stderr_text());
    const std::int64_t sub_ns = children_cpu_ns(sub.stderr_text());
    env.pub().publish(topic, "", 1, true);  // the retained message goes

    // "<retain flag> <seconds.nanoseconds>" a line; the retained one is not counted.
    std::istringstream in(sub.stdout_text());
    double first = 0, last = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.size() < 3 || line[0] != '0') {
            continue;
        }
        const double at = std::stod(line.substr(2));
        first = r.received++ == 0 ? at : first;
        last = at;
    }
    r.complete = r.received == n && pub_status == 0 && sub_status == 0;
    if (r.received > 1 && last > first) {
        r.msgs_per_s = static_cast<double>(r.received) / (last - first);
    }
    const double per = static_cast<double>(n ? n : 1) * 1e3;
    r.pub_cpu_us_per_msg = static_cast<double>(pub_ns) / per;
    r.sub_cpu_us_per_msg = static_cast<double>(sub_ns) / per;
    r.broker_cpu_us_per_msg = static_cast<double>(cpu1 - cpu0) / per;
    if (!r.complete) {
        env.fail();
        std::cerr << "bench: mosquitto_pub to mosquitto_sub: " << r.received << " of " << n
                  << " messages arrived; mosquitto_pub: " << pub.stderr_text()
                  << " mosquitto_sub: " << sub.stderr_text() << "\n";
    }
    return r;
}

}  // namespace llmb::bench
