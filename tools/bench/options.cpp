#include "options.hpp"

#include <algorithm>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace llmb::bench {

const char* const usage = R"(Usage: llm-mqtt-bench [options]

Starts mosquitto, the mock LLM server and llm-mqtt-bridge on 127.0.0.1 and measures the bridge
against the broker's and the mock server's own limits. Prints a table; writes bench.json, and
bench.png when gnuplot is installed, to the output directory.

  --out DIR          where the results go (default: bench-results)
  --repeats N        runs of the throughput, latency and coalescing measurements; the table
                     shows their median (default 3)
  --streams LIST     concurrent streams of those measurements (default 1,100,1000)
  --scale LIST       concurrent streams the scale measurement tries (default 1000,5000,10000)
  --chunks N         chunks per throughput measurement (default 100000)
  --pace-s S         length of a paced latency measurement in seconds (default 3)
  --requests N       requests of the per-request measurement, one at a time, 64 paced tokens
                     each, through the bridge and as many straight to the mock server
                     (default 200)
  --scale-s S        how long each stream of the scale measurement lasts (default 12): longer
                     than it takes to start them all
  --idle-s S         idle CPU measured over S seconds (default 30)
  --qos 0|1          QoS of the bridge's response events and of the broker-alone messages
                     (default 1, the bridge's default)
  --only LIST        run only these phases: ceilings, relay, latency, coalescing, sessions,
                     per_request, scale
  --bridge PATH      the llm-mqtt-bridge binary to measure (default: the one built with this
                     benchmark), e.g. one built from other code, for a before/after comparison
  --smoke            a quick run that checks the benchmark works (about 40 s): one repeat,
                     small sizes; its numbers are not for comparison
  --help
)";

namespace {

std::vector<std::size_t> parse_list(const std::string& s) {
    std::vector<std::size_t> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        out.push_back(std::stoul(item));
    }
    if (out.empty()) {
        throw std::invalid_argument("empty list");
    }
    return out;
}

}  // namespace

bool options::wanted(const std::string& phase) const {
    return only.empty() || std::find(only.begin(), only.end(), phase) != only.end();
}

std::optional<options> parse_options(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                throw std::invalid_argument(arg + " needs a value");
            }
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return std::nullopt;
        } else if (arg == "--out") {
            o.out = value();
        } else if (arg == "--repeats") {
            o.repeats = std::max(1, std::stoi(value()));
        } else if (arg == "--streams") {
            o.streams = parse_list(value());
        } else if (arg == "--scale") {
            o.scale = parse_list(value());
        } else if (arg == "--chunks") {
            o.chunks = std::stoul(value());
        } else if (arg == "--requests") {
            o.requests = std::max<std::size_t>(1, std::stoul(value()));
        } else if (arg == "--pace-s") {
            o.pace_s = std::stod(value());
        } else if (arg == "--idle-s") {
            o.idle_s = std::stod(value());
        } else if (arg == "--only") {
            std::stringstream in(value());
            for (std::string p; std::getline(in, p, ',');) {
                o.only.push_back(p);
            }
        } else if (arg == "--smoke") {
            o.smoke = true;
            o.repeats = 1;
            o.streams = {1, 10, 100};
            o.scale = {200, 500};
            o.chunks = 5000;
            o.pace_s = 0.7;
            o.requests = 20;
            o.idle_s = 2;
            o.scale_s = 2;
        } else if (arg == "--qos") {
            o.qos = std::stoi(value());
            if (o.qos != 0 && o.qos != 1) {
                throw std::invalid_argument("--qos is 0 or 1");
            }
        } else if (arg == "--inflight") {
            o.inflight = std::stoul(value());
        } else if (arg == "--bridge") {
            o.bridge = value();
        } else if (arg == "--scale-s") {
            o.scale_s = std::stod(value());
        } else {
            throw std::invalid_argument("unknown option " + arg);
        }
    }
    return o;
}

}  // namespace llmb::bench
