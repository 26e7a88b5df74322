// The benchmark's command line: what to measure and how much of it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace llmb::bench {

extern const char* const usage;

struct options {
    std::filesystem::path out = "bench-results";
    int repeats = 3;
    std::vector<std::size_t> streams{1, 100, 1000};
    std::vector<std::size_t> scale{1000, 5000, 10000};
    std::size_t chunks = 100000;
    double pace_s = 3;
    std::size_t requests = 200;  // of the per-request measurement, one at a time
    double idle_s = 30;
    double scale_s = 12;          // how long each stream of the scale measurement lasts
    int qos = 1;                  // of the bridge's chunks and of the broker-alone messages
    std::size_t inflight = 1000;  // mosquitto's max_inflight_messages
    bool smoke = false;
    std::vector<std::string> only;  // phases to run; empty: all
    std::string bridge;             // the bridge binary; empty: the one built here

    // Whether the phase runs (--only names it, or there is no --only).
    bool wanted(const std::string& phase) const;
};

// The options of argv; nullopt after --help (printed). Throws std::invalid_argument.
std::optional<options> parse_options(int argc, char** argv);

}  // namespace llmb::bench
