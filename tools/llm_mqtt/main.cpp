// llm-mqtt: command line client of the bridge. `ask` sends one request and streams the answer;
// `watch` shows every live stream; `stats` prints the bridges' metrics.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "ask_command.hpp"
#include "ask_options.hpp"
#include "stats_command.hpp"
#include "watch_command.hpp"

namespace {

constexpr std::string_view usage = R"(usage: llm-mqtt COMMAND [options]

Commands:
  ask QUESTION   send one request to the bridge and stream the answer to stdout
  watch          show all live response streams, reassembled
  stats          show the bridges' metrics

Run `llm-mqtt COMMAND --help` for the options of a command.
Options:
  -h, --help     this text
  --version      print the version
)";

std::string random_id() {
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device seed;
    std::mt19937_64 rng(seed());
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::string id(12, ' ');
    for (char& c : id) {
        c = alphabet[pick(rng)];
    }
    return id;
}

llmb::cli::ask_defaults environment_defaults() {
    llmb::cli::ask_defaults d;
    const char* broker = std::getenv("LLM_MQTT_BROKER");
    d.broker = llmb::cli::normalize_broker_url(
        broker != nullptr && *broker != '\0' ? broker : "tcp://127.0.0.1:1883");
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) {
        host[0] = '\0';
    }
    d.client =
        llmb::cli::sanitize_name("cli-" + std::string(host) + "-" + std::to_string(getpid()));
    d.id = random_id();
    return d;
}

int ask(const std::vector<std::string_view>& args) {
    const auto parsed = llmb::cli::parse_ask_options(args, environment_defaults());
    if (parsed.help) {
        std::fputs(llmb::cli::ask_usage().data(), stdout);
        return 0;
    }
    if (!parsed.options) {
        std::fprintf(stderr, "llm-mqtt ask: %s\n(see llm-mqtt ask --help)\n", parsed.error.c_str());
        return llmb::cli::exit_code::usage;
    }
    return llmb::cli::run_ask(*parsed.options);
}

int watch(const std::vector<std::string_view>& args) {
    const auto defaults = environment_defaults();
    const auto parsed = llmb::cli::parse_watch_options(args, defaults.broker);
    if (parsed.help) {
        std::fputs(llmb::cli::watch_usage().data(), stdout);
        return 0;
    }
    if (!parsed.options) {
        std::fprintf(stderr, "llm-mqtt watch: %s\n(see llm-mqtt watch --help)\n",
                     parsed.error.c_str());
        return llmb::cli::exit_code::usage;
    }
    return llmb::cli::run_watch(*parsed.options, defaults.client + ".watch." + defaults.id);
}

int stats(const std::vector<std::string_view>& args) {
    const auto defaults = environment_defaults();
    const auto parsed = llmb::cli::parse_stats_options(args, defaults.broker);
    if (parsed.help) {
        std::fputs(llmb::cli::stats_usage().data(), stdout);
        return 0;
    }
    if (!parsed.options) {
        std::fprintf(stderr, "llm-mqtt stats: %s\n(see llm-mqtt stats --help)\n",
                     parsed.error.c_str());
        return llmb::cli::exit_code::usage;
    }
    return llmb::cli::run_stats(*parsed.options, defaults.client + ".stats." + defaults.id);
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string_view> words(argv + 1, argv + argc);
    if (words.empty()) {
        std::fputs(usage.data(), stderr);
        return llmb::cli::exit_code::usage;
    }
    const std::string_view command = words.front();
    const std::vector<std::string_view> rest(words.begin() + 1, words.end());
    if (command == "-h" || command == "--help" || command == "help") {
        std::fputs(usage.data(), stdout);
        return 0;
    }
    if (command == "--version") {
        std::printf("llm-mqtt %s\n", LLMB_VERSION);
        return 0;
    }
    if (command == "ask") {
        return ask(rest);
    }
    if (command == "watch") {
        return watch(rest);
    }
    if (command == "stats") {
        return stats(rest);
    }
    std::fprintf(stderr, "llm-mqtt: unknown command \"%s\"\n\n%s", std::string(command).c_str(),
                 usage.data());
    return llmb::cli::exit_code::usage;
}
