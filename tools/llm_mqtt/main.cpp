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

// Prints the command's usage for --help or the error of a bad command line, or runs it:
// run(options, more...).
template <typename O, typename Run, typename... More>
int run_command(const char* name, const llmb::cli::parse_result<O>& parsed,
                std::string_view command_usage, const Run& run, const More&... more) {
    if (parsed.help) {
        std::fputs(command_usage.data(), stdout);
        return 0;
    }
    if (!parsed.options) {
        std::fprintf(stderr, "llm-mqtt %s: %s\n(see llm-mqtt %s --help)\n", name,
                     parsed.error.c_str(), name);
        return llmb::cli::exit_code::usage;
    }
    return run(*parsed.options, more...);
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
    namespace cli = llmb::cli;
    const auto defaults = environment_defaults();
    // The MQTT client id of watch and stats: unique, and telling which command it is.
    const auto client_id = [&defaults](std::string_view what) {
        return defaults.client + "." + std::string(what) + "." + defaults.id;
    };
    if (command == "ask") {
        return run_command("ask", cli::parse_ask_options(rest, defaults), cli::ask_usage(),
                           cli::run_ask);
    }
    if (command == "watch") {
        return run_command("watch", cli::parse_watch_options(rest, defaults.broker),
                           cli::watch_usage(), cli::run_watch, client_id("watch"));
    }
    if (command == "stats") {
        return run_command("stats", cli::parse_stats_options(rest, defaults.broker),
                           cli::stats_usage(), cli::run_stats, client_id("stats"));
    }
    std::fprintf(stderr, "llm-mqtt: unknown command \"%s\"\n\n%s", std::string(command).c_str(),
                 usage.data());
    return llmb::cli::exit_code::usage;
}
