#include "ask_options.hpp"

#include "arg_reader.hpp"
#include "protocol/request.hpp"
#include "protocol/topics.hpp"

namespace llmb::cli {

std::string sanitize_name(std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, 64)) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        out += ok ? c : '_';
    }
    return out.empty() ? std::string("cli") : out;
}

std::string normalize_broker_url(std::string_view url) {
    if (url.find("://") == std::string_view::npos) {
        return "tcp://" + std::string(url);
    }
    return std::string(url);
}

ask_parse_result parse_ask_options(std::span<const std::string_view> args,
                                   const ask_defaults& defaults) {
    ask_parse_result result;
    ask_options opt;
    opt.broker = defaults.broker;
    opt.client = defaults.client;
    opt.id = defaults.id;
    std::string question;
    bool have_question = false;
    const auto fail = [&result](std::string msg) {
        result.error = std::move(msg);
        return result;
    };
    const auto add_word = [&](std::string_view word) {
        if (have_question) {
            question += ' ';
        }
        question += word;
        have_question = true;
    };

    arg_reader in(args);
    bool options_end = false;
    while (!in.done()) {
        const std::string_view name = in.next();
        if (options_end || name == "-" || !name.starts_with("-")) {
            add_word(name);
            continue;
        }
        if (name == "--") {
            options_end = true;
            continue;
        }
        // Flags.
        if (name == "-h" || name == "--help") {
            result.help = true;
            return result;
        }
        const bool flag = name == "--no-stream" || name == "--json" || name == "-q" ||
                          name == "--quiet" || name == "-v" || name == "--verbose";
        if (flag) {
            if (in.has_inline_value()) {
                return fail(std::string(name) + " takes no value");
            }
            if (name == "--no-stream") {
                opt.stream = false;
            } else if (name == "--json") {
                opt.json_output = true;
            } else if (name == "-q" || name == "--quiet") {
                opt.quiet = true;
            } else {
                opt.verbose = true;
            }
            continue;
        }
        // Options with a value.
        const auto value = in.value();
        if (!value) {
            return fail(std::string(name) + " needs a value");
        }
        const std::string v(*value);
        const auto bad = [&](std::string_view what) {
            return fail(std::string(name) + ": " + std::string(what) + ", got \"" + v + "\"");
        };
        if (name == "-b" || name == "--broker") {
            opt.broker = normalize_broker_url(v);
        } else if (name == "--prefix") {
            if (!protocol::valid_prefix(v)) {
                return bad("not a usable topic prefix");
            }
            opt.prefix = v;
        } else if (name == "-c" || name == "--client") {
            if (!protocol::valid_name(v)) {
                return bad("must match [A-Za-z0-9_.-]{1,64}");
            }
            opt.client = v;
        } else if (name == "--id") {
            if (!protocol::valid_name(v)) {
                return bad("must match [A-Za-z0-9_.-]{1,64}");
            }
            opt.id = v;
        } else if (name == "-m" || name == "--model") {
            opt.model = v;
        } else if (name == "-s" || name == "--system") {
            opt.system = v;
        } else if (name == "--max-packet" || name == "--max-tokens" || name == "--flush-ms") {
            const auto n = parse_u32(v);
            if (!n || *n == 0) {
                return bad("expected a positive integer");
            }
            if (name == "--max-packet") {
                opt.max_packet = n;
            } else if (name == "--max-tokens") {
                opt.max_tokens = n;
            } else {
                opt.flush_ms = n;
            }
        } else if (name == "--temperature") {
            opt.temperature = parse_double(v);
            if (!opt.temperature) {
                return bad("expected a number");
            }
        } else if (name == "--tools") {
            opt.tools_file = v;
        } else if (name == "--timeout") {
            const auto t = parse_double(v);
            if (!t || *t <= 0 || *t > 1e6) {
                return bad("expected seconds, more than 0");
            }
            opt.timeout_s = *t;
        } else if (name == "--mqtt-version") {
            if (v == "5") {
                opt.version = protocol::mqtt_version::v5;
            } else if (v == "3.1.1" || v == "311") {
                opt.version = protocol::mqtt_version::v3_1_1;
            } else {
                return bad("expected 5 or 3.1.1");
            }
        } else {
            return fail("unknown option " + std::string(name));
        }
    }
    if (!have_question || question.empty()) {
        return fail("missing the question (use - to read it from stdin)");
    }
    opt.question = std::move(question);
    result.options = std::move(opt);
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
      --mqtt-version V   5 (default) or 3.1.1
  -q, --quiet            no summary line
  -v, --verbose          also show start and status events
  -h, --help             this text

Exit status: 0 done, 1 error event, 2 usage or connection error,
3 protocol violation or timeout, 130 cancelled (Ctrl-C once cancels, twice quits).
)";
}

}  // namespace llmb::cli
