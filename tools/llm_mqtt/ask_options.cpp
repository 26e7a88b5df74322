#include "ask_options.hpp"

namespace llmb::cli {

namespace {

// An option whose value is any text. T: std::string or an optional one.
template <typename T>
value_option text_option(std::string_view short_name, std::string_view name, T& target) {
    return {short_name, name, [&target](const std::string& v) -> std::string_view {
                target = v;
                return {};
            }};
}

}  // namespace

ask_parse_result parse_ask_options(std::span<const std::string_view> args,
                                   const ask_defaults& defaults) {
    ask_options opt;
    opt.broker = defaults.broker;
    opt.client = defaults.client;
    opt.id = defaults.id;
    bool have_question = false;

    command_syntax syntax;
    syntax.flags = {{"", "--no-stream", opt.stream, false},
                    {"", "--json", opt.json_output},
                    {"-q", "--quiet", opt.quiet},
                    {"-v", "--verbose", opt.verbose}};
    syntax.options = value_options(opt, {name_option("-c", "--client", opt.client),
                                         name_option("", "--id", opt.id),
                                         text_option("-m", "--model", opt.model),
                                         text_option("-s", "--system", opt.system),
                                         positive_option("--max-packet", opt.max_packet),
                                         positive_option("--max-tokens", opt.max_tokens),
                                         positive_option("--flush-ms", opt.flush_ms),
                                         {"", "--temperature",
                                          [&opt](const std::string& v) -> std::string_view {
                                              opt.temperature = parse_double(v);
                                              return opt.temperature ? "" : "expected a number";
                                          }},
                                         text_option("", "--tools", opt.tools_file),
                                         timeout_option(opt.timeout_s)});
    syntax.word = [&opt, &have_question](std::string_view word) {
        if (have_question) {
            opt.question += ' ';
        }
        opt.question += word;
        have_question = true;
    };

    auto result = parse_options(args, syntax, opt);
    if (result.options && result.options->question.empty()) {
        result.options.reset();
        result.error = "missing the question (use - to read it from stdin)";
    }
    return result;
}

std::string_view ask_usage() noexcept {
    return R"(usage: llm-mqtt ask [options] QUESTION      (QUESTION "-" reads it from stdin)

Sends one request to the bridge and streams the answer to stdout.

  -b, --broker URL       broker (default $LLM_MQTT_BROKER or tcp://127.0.0.1:1883)
      --prefix P         topic prefix (default llm)
  -c, --client ID        client segment of the topics (default cli-<hostname>-<pid>)
      --id ID            request id (default a random 12-character id)
  -m, --model NAME       model to ask for
  -s, --system TEXT      system message before the question
      --max-packet N     largest MQTT packet the bridge may send us
      --max-tokens N     cap on generated tokens
      --temperature X    sampling temperature
      --tools FILE       JSON array of OpenAI tools (the answer comes whole)
      --no-stream        ask for the whole answer at once
      --flush-ms N       let the bridge coalesce text for up to N ms
      --json             print every event as one JSON line instead of the text
      --timeout SEC      give up when no event comes for SEC seconds (default 300)
      --mqtt-version V   auto (default: 5, or 3.1.1 for a broker that refuses 5), 5
                         or 3.1.1
  -q, --quiet            no summary line
  -v, --verbose          also show start and status events
  -h, --help             this text

Exit status: 0 done, 1 error event, 2 usage or connection error,
3 protocol violation or timeout, 130 cancelled (Ctrl-C once cancels, twice quits).
)";
}

}  // namespace llmb::cli
