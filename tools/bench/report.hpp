// The benchmark's results: the table on the terminal (and as Markdown), bench.json, and the
// plot of throughput and latency against streams (gnuplot, when installed).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace llmb::bench {

struct scale_row {
    std::size_t streams = 0;
    std::size_t held = 0;  // streaming at once when the last one had started
    bool all_done = false;
    std::size_t errors = 0;
    double rss_idle_kb = 0;        // the fresh bridge before the streams
    double rss_kb = 0;             // with every stream going
    double cpu_idle_percent = -1;  // afterwards, with no traffic; < 0: not measured
    double idle_s = 0;
};

struct report {
    std::vector<std::size_t> streams;  // of the repeated measurements
    nlohmann::json machine;
    nlohmann::json options;
    nlohmann::json samples;  // every repeat's value of every metric, by name
    // The median over the repeats of a metric "<what>.<n>.<metric>".
    std::function<double(const std::string&)> median;
    std::vector<scale_row> scale;
    double seconds = 0;

    // Prints the table to out and writes bench.json, bench.md, bench.dat, bench.gp and (with
    // gnuplot) bench.png into dir.
    void write(const std::filesystem::path& dir, std::ostream& out) const;
};

}  // namespace llmb::bench
