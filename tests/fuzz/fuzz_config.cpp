// Fuzz target: the configuration parser on arbitrary YAML, with an environment that has no
// variables and no files (nothing is read). The answer is a configuration or a list of errors,
// each one line with a message.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "daemon/config/config.hpp"
#include "fuzz_support.hpp"

namespace {

using llmb::fuzz::require;

constexpr std::string_view file_name = "fuzz/llm-mqtt-bridge.yaml";

llmb::config_environment empty_environment() {
    llmb::config_environment env;
    env.getenv = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    env.read_file = [](const std::string&, std::string& why) -> std::optional<std::string> {
        why = "no files in this environment";
        return std::nullopt;
    };
    return env;
}

void check_config(const llmb::config& c) {
    require(c.source == file_name, "a configuration names its file");
    require(!c.backends.empty(), "a configuration has a backend");
    require(!c.projects.empty(), "a configuration has a project");
    std::set<std::string> prefixes;
    for (const auto& p : c.projects) {
        require(prefixes.insert(p.prefix).second, "project prefixes are unique");
    }
    std::set<std::string> names;
    for (const auto& b : c.backends) {
        require(names.insert(b.name).second, "backend names are unique");
        require(!b.url.empty(), "a backend has a URL");
    }
    require(c.mqtt.qos == 0 || c.mqtt.qos == 1, "qos is 0 or 1");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view yaml(reinterpret_cast<const char*>(data), size);
    const auto env = empty_environment();
    const auto result = llmb::parse_config(yaml, std::string(file_name), env);
    require((result.cfg != nullptr) == result.errors.empty(), "a configuration or errors");
    for (const auto& e : result.errors) {
        require(!e.message.empty(), "an error has a message");
        require(e.file == file_name, "an error names the file");
        require(e.line >= 0 && e.column >= 0, "an error's position is not negative");
        const std::string line = e.to_string();
        require(line.find_first_of("\r\n") == std::string::npos, "an error is one line");
    }
    if (result.cfg) {
        check_config(*result.cfg);
    }
    return 0;
}
