// llm-mqtt-bench: the bridge measured against the limits of the machine it runs on.
//
// Starts its own mosquitto, mock LLM server and bridges on loopback ports and measures, in one
// run: relay throughput beside the broker's and the mock server's own ceilings, the latency a
// delta takes from the mock server to a subscriber, how many concurrent streams a bridge holds
// and at what memory, the bridge's CPU per chunk and at idle, and what coalescing (flush_ms)
// does. Prints a table, writes bench.json and bench.png (with gnuplot). See tools/bench/README.md.
#include <sys/resource.h>
#include <sys/utsname.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "env.hpp"
#include "mqtt_peer.hpp"
#include "options.hpp"
#include "phases.hpp"
#include "report.hpp"

namespace llmb::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Raises the soft limit of open files to the hard one (children inherit it): a bridge with
// 10,000 streams holds 10,000 upstream connections, and the mock server as many.
rlim_t raise_fd_limit() {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

json machine_info(rlim_t fd_limit) {
    json m;
    utsname u{};
    uname(&u);
    m["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
    m["cores"] = std::thread::hardware_concurrency();
    std::ifstream cpu("/proc/cpuinfo");
    for (std::string line; std::getline(cpu, line);) {
        if (line.rfind("model name", 0) == 0) {
            m["cpu"] = line.substr(line.find(':') + 2);
            break;
        }
    }
    m["fd_limit"] = fd_limit;
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    m["date"] = when;
    return m;
}

int run(const options& o) {
    const auto started = std::chrono::steady_clock::now();
    const rlim_t fd_limit = raise_fd_limit();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fs::create_directories(o.out);

    samples s;
    std::vector<scale_row> scales;
    int failures = 0;
    {
        bench_env env(o.qos, o.inflight, o.bridge);
        progress("run directory " + env.dir().path().string());
        for (int r = 0; r < o.repeats; ++r) {
            run_repeat(env, o, r, s);
        }
        for (std::size_t i = 0; o.wanted("scale") && i < o.scale.size(); ++i) {
            const std::size_t n = o.scale[i];
            // Each stream takes a connection in the bridge and in the mock server.
            if (static_cast<rlim_t>(n) + 256 > fd_limit) {
                std::cerr << "bench: scale " << n << " skipped: the open-file limit is " << fd_limit
                          << "\n";
                continue;
            }
            progress("scale, " + std::to_string(n) + " concurrent streams" +
                     (i + 1 == o.scale.size()
                          ? ", then idle for " + std::to_string(static_cast<int>(o.idle_s)) + " s"
                          : ""));
            scales.push_back(scale(env, n, o.scale_s, i + 1 == o.scale.size() ? o.idle_s : 0));
        }
        failures = env.failures();
    }

    report rep;
    rep.streams = o.streams;
    rep.machine = machine_info(fd_limit);
    rep.options = {{"repeats", o.repeats}, {"streams", o.streams}, {"scale", o.scale},
                   {"chunks", o.chunks},   {"pace_s", o.pace_s},   {"requests", o.requests},
                   {"idle_s", o.idle_s},   {"smoke", o.smoke},     {"bridge", o.bridge},
                   {"qos", o.qos}};
    rep.median = [&](const std::string& k) { return s.median_of(k); };
    rep.samples = s.to_json();
    rep.scale = scales;
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    rep.write(o.out, std::cout);
    curl_global_cleanup();
    if (failures > 0) {
        std::cerr << "llm-mqtt-bench: " << failures
                  << " measurements did not complete (see above): their numbers are not valid\n";
        return 1;
    }
    return 0;
}

}  // namespace
}  // namespace llmb::bench

// --flood URL FIRST TOPICS PER_TOPIC RATE QOS: the publisher of a broker-alone measurement.
int flood_main(char** argv) {
    llmb::bench::mqtt_peer pub(argv[2], "bench-flood-" + std::string(argv[3]));
    llmb::bench::flood(pub, "llm", std::stoul(argv[3]), std::stoul(argv[4]), std::stoul(argv[5]),
                       std::stod(argv[6]), std::stoi(argv[7]));
    return pub.flush(std::chrono::seconds(60)) ? 0 : 1;
}

int main(int argc, char** argv) {
    try {
        if (argc == 8 && std::string(argv[1]) == "--flood") {
            return flood_main(argv);
        }
        const auto o = llmb::bench::parse_options(argc, argv);
        if (!o) {
            return 0;
        }
        return llmb::bench::run(*o);
    } catch (const std::invalid_argument& e) {
        std::cerr << "llm-mqtt-bench: " << e.what() << "\n" << llmb::bench::usage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "llm-mqtt-bench: " << e.what() << "\n";
        return 1;
    }
}
