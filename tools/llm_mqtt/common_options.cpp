#include "common_options.hpp"

#include <algorithm>

#include "protocol/topics.hpp"

namespace llmb::cli {

namespace {

// Whether the word is the option's long or short name.
template <typename Option>
bool names(const Option& option, std::string_view word) {
    return word == option.name || (!option.short_name.empty() && word == option.short_name);
}

}  // namespace

parse_outcome parse_command_line(std::span<const std::string_view> args,
                                 const command_syntax& syntax) {
    parse_outcome out;
    const auto fail = [&out](std::string msg) {
        out.error = std::move(msg);
        return out;
    };
    const auto named = [](std::string_view word) {
        return [word](const auto& option) { return names(option, word); };
    };

    arg_reader in(args);
    bool options_end = false;
    while (!in.done()) {
        const std::string_view name = in.next();
        if (syntax.word) {
            if (options_end || name == "-" || !name.starts_with("-")) {
                syntax.word(name);
                continue;
            }
            if (name == "--") {
                options_end = true;
                continue;
            }
        }
        if (name == "-h" || name == "--help") {
            out.help = true;
            return out;
        }
        const auto flag = std::find_if(syntax.flags.begin(), syntax.flags.end(), named(name));
        if (flag != syntax.flags.end()) {
            if (in.has_inline_value()) {
                return fail(std::string(name) + " takes no value");
            }
            flag->target.get() = flag->value;
            continue;
        }
        const auto option = std::find_if(syntax.options.begin(), syntax.options.end(), named(name));
        if (option == syntax.options.end()) {
            return fail("unknown option " + std::string(name));
        }
        const auto value = in.value();
        if (!value) {
            return fail(std::string(name) + " needs a value");
        }
        const std::string v(*value);
        if (const std::string_view problem = option->apply(v); !problem.empty()) {
            return fail(std::string(name) + ": " + std::string(problem) + ", got \"" + v + "\"");
        }
    }
    return out;
}

std::vector<value_option> value_options(common_options& common,
                                        std::initializer_list<value_option> own) {
    std::vector<value_option> all = {
        {"-b", "--broker",
         [&common](const std::string& v) -> std::string_view {
             common.broker = normalize_broker_url(v);
             return {};
         }},
        {"", "--prefix",
         [&common](const std::string& v) -> std::string_view {
             if (!protocol::valid_prefix(v)) {
                 return "not a usable topic prefix";
             }
             common.prefix = v;
             return {};
         }},
        {"", "--mqtt-version",
         [&common](const std::string& v) -> std::string_view {
             if (v == "auto") {
                 common.version = protocol::version_choice::automatic;
             } else if (v == "5") {
                 common.version = protocol::version_choice::v5;
             } else if (v == "3.1.1" || v == "311") {
                 common.version = protocol::version_choice::v3_1_1;
             } else {
                 return "expected auto, 5 or 3.1.1";
             }
             return {};
         }},
    };
    all.insert(all.end(), own);
    return all;
}

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

}  // namespace llmb::cli
