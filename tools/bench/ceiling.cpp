#include "ceiling.hpp"

#include <sys/wait.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

namespace llmb::bench {
namespace {

using namespace std::chrono_literals;

// CPU time of a child that has exited but is not yet reaped (its /proc entry stays until then).
std::int64_t cpu_ns_at_exit(itest::process& p, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    siginfo_t info{};
    while (std::chrono::steady_clock::now() < deadline) {
        info.si_pid = 0;
        if (::waitid(P_PID, static_cast<id_t>(p.pid()), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
            return 0;
        }
        if (info.si_pid == p.pid()) {
            return process_cpu_ns(p.pid()).value_or(0);
        }
        std::this_thread::sleep_for(2ms);
    }
    return 0;
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

    // Both run through sh, found on PATH; exec keeps the pid the tool's own.
    // A retained message tells when the subscriber has subscribed: it is its first line.
    env.pub().publish(topic, "ready", 1, true);
    env.pub().flush(10s);
    itest::process sub("mosquitto_sub-" + topic.substr(topic.rfind('/') + 1),
                       {"/bin/sh", "-c",
                        "exec mosquitto_sub -V 5 -h 127.0.0.1 -p " + port + " -q " + q + " -t " +
                            quoted(topic) + " -C " + std::to_string(n + 1) + " -F '%r %U'"},
                       env.dir().path());
    const auto ready_by = std::chrono::steady_clock::now() + 10s;
    while (sub.stdout_text().empty() && std::chrono::steady_clock::now() < ready_by) {
        std::this_thread::sleep_for(5ms);
    }
    const auto cpu0 = process_cpu_ns(env.mqtt().proc().pid()).value_or(0);
    // exec: the process measured is mosquitto_pub itself, reading the lines from stdin.
    itest::process pub("mosquitto_pub-" + topic.substr(topic.rfind('/') + 1),
                       {"/bin/sh", "-c",
                        "exec mosquitto_pub -V 5 -h 127.0.0.1 -p " + port + " -q " + q + " -t " +
                            quoted(topic) + " -l < " + quoted(lines.string())},
                       env.dir().path());
    const std::int64_t pub_ns = cpu_ns_at_exit(pub, 120s);
    const std::int64_t sub_ns = cpu_ns_at_exit(sub, 120s);
    const auto cpu1 = process_cpu_ns(env.mqtt().proc().pid()).value_or(0);
    const auto pub_status = pub.wait_exit(10s);
    const auto sub_status = sub.wait_exit(1s);
    if (!sub_status) {
        sub.terminate();
    }
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
