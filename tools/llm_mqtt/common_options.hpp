// The command line of every llm-mqtt command: the options they share (broker, topic prefix, MQTT
// version, timeout), the checks of option values, and the one walk over the words that turns them
// into a command's options or an error text.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "arg_reader.hpp"
#include "protocol/packet.hpp"
#include "protocol/request.hpp"
#include "protocol/version_fallback.hpp"

namespace llmb::cli {

// The options every command has.
struct common_options {
    std::string broker;
    std::string prefix = "llm";
    // auto: MQTT 5, or 3.1.1 when the broker refuses 5.
    protocol::version_choice version = protocol::version_choice::automatic;
};

// A command line parsed into the options O of a command.
template <typename O>
struct parse_result {
    std::optional<O> options;  // set when the command line is usable
    bool help = false;         // --help was asked for
    std::string error;         // what is wrong otherwise
};

// An option without a value: sets target to value.
struct flag_option {
    std::string_view short_name;  // "" when it has none
    std::string_view name;
    std::reference_wrapper<bool> target;
    bool value = true;
};

// An option with a value: apply stores it, or returns what is wrong with it (empty when good).
struct value_option {
    std::string_view short_name;  // "" when it has none
    std::string_view name;
    std::function<std::string_view(const std::string& value)> apply;
};

// What one command accepts besides -h/--help.
struct command_syntax {
    std::vector<flag_option> flags;
    std::vector<value_option> options;
    // Takes a free word ("-", a word without a leading '-', every word after "--"); when empty,
    // the command takes none and such a word is an unknown option.
    std::function<void(std::string_view word)> word;
};

struct parse_outcome {
    bool help = false;  // -h or --help came
    std::string error;  // empty when every word was taken
};

// Walks args (the words after the command name) and hands every word to syntax.
parse_outcome parse_command_line(std::span<const std::string_view> args,
                                 const command_syntax& syntax);

// Parses args with syntax, whose options store into opt; opt is the result when usable.
template <typename O>
parse_result<O> parse_options(std::span<const std::string_view> args, const command_syntax& syntax,
                              O& opt) {
    parse_outcome outcome = parse_command_line(args, syntax);
    parse_result<O> result;
    result.help = outcome.help;
    result.error = std::move(outcome.error);
    if (!result.help && result.error.empty()) {
        result.options = std::move(opt);
    }
    return result;
}

// The options with a value of every command (-b/--broker, --prefix, --mqtt-version, storing
// into common), followed by the command's own.
std::vector<value_option> value_options(common_options& common,
                                        std::initializer_list<value_option> own);

// --timeout SEC: more than 0 seconds. T: double or std::optional<double>.
template <typename T>
value_option timeout_option(T& target) {
    return {"", "--timeout", [&target](const std::string& v) -> std::string_view {
                const auto t = parse_double(v);
                if (!t || *t <= 0 || *t > 1e6) {
                    return "expected seconds, more than 0";
                }
                target = *t;
                return {};
            }};
}

// An option naming a client or request: [A-Za-z0-9_.-]{1,64}. T: std::string or an optional one.
template <typename T>
value_option name_option(std::string_view short_name, std::string_view name, T& target) {
    return {short_name, name, [&target](const std::string& v) -> std::string_view {
                if (!protocol::valid_name(v)) {
                    return "must match [A-Za-z0-9_.-]{1,64}";
                }
                target = v;
                return {};
            }};
}

// An option counting something: a positive integer. T: an optional unsigned integer.
template <typename T>
value_option positive_option(std::string_view name, T& target) {
    return {"", name, [&target](const std::string& v) -> std::string_view {
                const auto n = parse_u32(v);
                if (!n || *n == 0) {
                    return "expected a positive integer";
                }
                target = *n;
                return {};
            }};
}

// Replaces every character outside [A-Za-z0-9_.-] by '_' and cuts to 64 characters.
std::string sanitize_name(std::string_view s);

// tcp://host:port from what the user typed (a bare host:port gets tcp://).
std::string normalize_broker_url(std::string_view url);

}  // namespace llmb::cli
