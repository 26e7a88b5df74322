// The configuration file: defaults, every kind of error with its position and key path, secrets,
// tools, and the shipped example and its documentation.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "daemon/config/config.hpp"

using llmb::config_environment;
using llmb::config_error;
using llmb::config_result;

namespace {

using string_map = std::map<std::string, std::string>;

// An environment with the given variables and files and nothing else.
config_environment fake_env(string_map vars = {}, string_map files = {}) {
    config_environment env;
    env.getenv = [vars](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        if (it == vars.end())
            return std::nullopt;
        return it->second;
    };
    env.read_file = [files](const std::string& path,
                            std::string& why) -> std::optional<std::string> {
        const auto it = files.find(path);
        if (it == files.end()) {
            why = "No such file or directory";
            return std::nullopt;
        }
        return it->second;
    };
    return env;
}

config_result parse(std::string_view yaml, const config_environment& env = fake_env()) {
    return llmb::parse_config(yaml, "bridge.yaml", env);
}

// 1-based line and column of the nth (0-based) occurrence of needle in text.
std::pair<int, int> position_of(std::string_view text, std::string_view needle, int nth = 0) {
    std::size_t at = text.find(needle);
    for (int i = 0; i < nth && at != std::string_view::npos; ++i)
        at = text.find(needle, at + 1);
    REQUIRE(at != std::string_view::npos);
    int line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < at; ++i) {
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    return {line, static_cast<int>(at - line_start) + 1};
}

// The one error of a parse that must fail with exactly one.
config_error only_error(const config_result& r) {
    for (const auto& e : r.errors)
        INFO(e.to_string());
    CHECK_FALSE(r.cfg);
    REQUIRE(r.errors.size() == 1);
    return r.errors[0];
}

// Checks that yaml fails with one error about path, at the nth occurrence of needle, whose
// message contains mention.
void check_error(std::string_view yaml, std::string_view path, std::string_view needle,
                 std::string_view mention, int nth = 0,
                 const config_environment& env = fake_env()) {
    INFO("yaml:\n" << yaml);
    const auto e = only_error(parse(yaml, env));
    INFO("error: " << e.to_string());
    const auto [line, column] = position_of(yaml, needle, nth);
    CHECK(e.file == "bridge.yaml");
    CHECK(e.line == line);
    CHECK(e.column == column);
    CHECK(e.path == path);
    CHECK(e.message.find(mention) != std::string::npos);
}

std::shared_ptr<const llmb::config> parse_ok(std::string_view yaml,
                                             const config_environment& env = fake_env()) {
    INFO("yaml:\n" << yaml);
    const auto r = parse(yaml, env);
    for (const auto& e : r.errors)
        INFO(e.to_string());
    CHECK(r.errors.empty());
    REQUIRE(r.cfg);
    return r.cfg;
}

void check_defaults(const llmb::config& c) {
    CHECK(c.mqtt.url == "tcp://127.0.0.1:1883");
    CHECK(c.mqtt.version == llmb::protocol::version_choice::automatic);
    CHECK(c.mqtt.qos == 1);
    CHECK(c.mqtt.text_qos == 0);
    CHECK(c.mqtt.max_inflight == 100);
    CHECK(c.mqtt.max_packet == 268435455);
    REQUIRE(c.backends.size() == 1);
    CHECK(c.backends[0].name == "default");
    CHECK(c.backends[0].url == "http://127.0.0.1:8080");
    CHECK_FALSE(c.backends[0].slots.has_value());  // not set: the server's /props, else 4
    REQUIRE(c.projects.size() == 1);
    CHECK(c.projects[0].prefix == "llm");
    CHECK(c.projects[0].name == "llm");
    CHECK(c.projects[0].tools_json.empty());
    CHECK(c.timeouts.first_byte == std::chrono::milliseconds(120000));
    CHECK(c.sessions.ttl == std::chrono::seconds(86400));
    CHECK(c.max_in_flight == 4096);
    CHECK(c.log_level == "info");
}

}  // namespace

TEST_CASE("config: an empty file, or one of comments only, is all defaults") {
    for (const char* text : {"", "# nothing here\n", "---\n", "mqtt:\nbackends:\nprojects:\n"}) {
        const auto c = parse_ok(text);
        check_defaults(*c);
        CHECK(c->source == "bridge.yaml");
    }
    const auto d = llmb::default_config();
    REQUIRE(d);
    check_defaults(*d);
    CHECK(d->source.empty());
}

TEST_CASE("config: the top level must be a map") {
    check_error("- mqtt\n- backends\n", "", "- mqtt", "the top level must be a map");
    check_error("just words\n", "", "just", "got \"just words\"");
}

TEST_CASE("config: a YAML syntax error has the parser's position") {
    const auto e = only_error(parse("mqtt:\n  url: tcp://a\n  qos: [1\n"));
    CHECK(e.path.empty());
    CHECK(e.line == 4);
    CHECK(e.column == 1);
    CHECK(e.message.find("end of sequence flow not found") != std::string::npos);

    const auto e2 = only_error(parse("mqtt: {url: \"a\\q\"}\n"));
    CHECK(e2.line == 1);
    CHECK(e2.message.find("escape") != std::string::npos);
}

TEST_CASE("config: unknown keys are errors that name the allowed keys and the nearest") {
    check_error("mqtt:\n  usernme: me\n", "mqtt.usernme", "usernme", "did you mean username?");
    check_error("mqtt:\n  qso: 1\n", "mqtt.qso", "qso", "did you mean qos?");
    check_error("backend:\n  - url: http://a\n", "backend", "backend", "did you mean backends?");
    check_error("mqtt:\n  colour: red\n", "mqtt.colour", "colour",
                "unknown key (allowed: url, client_id, version");
    const auto e = only_error(parse("mqtt:\n  colour: red\n"));
    CHECK(e.message.find("did you mean") == std::string::npos);
    check_error("projects:\n  - limits:\n      max_token: 5\n", "projects[0].limits.max_token",
                "max_token", "did you mean max_tokens?");
    check_error("mqtt:\n  qos: 0\n  qos: 1\n", "mqtt.qos", "qos",
                "key given twice (first on line 2)", 1);
}

TEST_CASE("config: values of the wrong type") {
    check_error("backends:\n  - url: http://a\n  - url: http://b\n    slots: many\n",
                "backends[1].slots", "many", "must be an integer from 1 to 100000, got \"many\"");
    check_error("mqtt:\n  keep_alive_s: \"30\"\n", "mqtt.keep_alive_s", "\"30\"",
                "got the quoted string \"30\" (write numbers without quotes)");
    check_error("projects:\n  prefix: llm\n", "projects", "prefix",
                "must be a list of projects, got a map");
    check_error("mqtt: [a, b]\n", "mqtt", "[a", "must be a map with the keys url, client_id");
    check_error("backends:\n  - url: http://a\n    models: qwen\n", "backends[0].models", "qwen",
                "must be a list of model names, got \"qwen\"");
    check_error("projects:\n  - legacy: yes\n", "projects[0].legacy", "yes",
                "must be true or false, got \"yes\"");
    check_error("projects:\n  - system_prompt: {a: 1}\n", "projects[0].system_prompt", "{a",
                "must be a string, got a map");
    // An empty value is reported at its key.
    check_error("sessions:\n  ttl_s:\nmax_in_flight: 5\n", "sessions.ttl_s", "ttl_s",
                "must be an integer from 1 to 31536000, got nothing");
    check_error("projects:\n  - temperature: warm\n", "projects[0].temperature", "warm",
                "must be a number from 0 to 2, got \"warm\"");
}

TEST_CASE("config: values out of range") {
    check_error("backends:\n  - url: http://a\n    slots: 0\n", "backends[0].slots", "0",
                "must be an integer from 1 to 100000, got 0");
    check_error("projects:\n  - temperature: 2.5\n", "projects[0].temperature", "2.5",
                "must be a number from 0 to 2, got 2.5");
    check_error("grace_ms: -1\n", "grace_ms", "-1", "must be an integer from 0 to 3600000");
    check_error("max_in_flight: 99999999999999999999999\n", "max_in_flight", "999",
                "got 99999999999999999999999");
    check_error("backends:\n  - url: http://a\n    health_interval_ms: 50\n",
                "backends[0].health_interval_ms", "50",
                "must be 0 or an integer from 100 to 3600000, got 50");
    check_error("timeouts:\n  idle_ms: 86400001\n", "timeouts.idle_ms", "864",
                "must be an integer from 1 to 86400000");
    check_error("projects:\n  - limits:\n      max_request_bytes: 16777217\n",
                "projects[0].limits.max_request_bytes", "167", "from 64 to 16777216");
    check_error("projects:\n  - limits:\n      rate_burst: 0.5\n", "projects[0].limits.rate_burst",
                "0.5", "must be a number from 1 to 100000");

    // The bounds themselves are accepted.
    const auto c = parse_ok(
        "backends:\n  - url: http://a\n    slots: 100000\n    health_interval_ms: 0\n"
        "    context_tokens: 0\nprojects:\n  - top_p: 1\n    temperature: 0\n"
        "    limits: {rate_per_second: 0, max_tokens: 1000000}\ngrace_ms: 0\n");
    CHECK(c->backends[0].slots == 100000);
    CHECK(c->backends[0].health_interval == std::chrono::milliseconds(0));
    CHECK(c->projects[0].top_p == 1.0);
    CHECK(c->projects[0].temperature == 0.0);
    CHECK(c->projects[0].rate.per_second == 0.0);
    CHECK(c->projects[0].request_limits.max_tokens == 1000000);
    CHECK(c->grace == std::chrono::milliseconds(0));
}

TEST_CASE("config: enumerations") {
    check_error("mqtt:\n  version: 4\n", "mqtt.version", "4",
                "must be one of auto, 5, 3.1.1, got \"4\"");
    check_error("projects:\n  - thinking: maybe\n", "projects[0].thinking", "maybe",
                "must be one of default, on, off");
    check_error("log_level: verbose\n", "log_level", "verbose",
                "must be one of trace, debug, info, warn, error");
    check_error("mqtt:\n  qos: 2\n", "mqtt.qos", "2", "from 0 to 1");
    check_error("mqtt:\n  text_qos: 2\n", "mqtt.text_qos", "2", "from 0 to 1");
    check_error("mqtt:\n  max_inflight: 0\n", "mqtt.max_inflight", "0", "from 1 to 65535");
    CHECK(parse_ok("mqtt:\n  max_inflight: 20\n")->mqtt.max_inflight == 20);

    const auto c = parse_ok(
        "mqtt:\n  version: 3.1.1\nprojects:\n  - thinking: off\n  - prefix: b\n    thinking: on\n"
        "log_level: debug\n");
    CHECK(c->mqtt.version == llmb::protocol::version_choice::v3_1_1);
    CHECK(c->projects[0].thinking == llmb::thinking_mode::off);
    CHECK(c->projects[1].thinking == llmb::thinking_mode::on);
    CHECK(c->log_level == "debug");
}

TEST_CASE("config: URLs") {
    check_error("mqtt:\n  url: http://broker:1883\n", "mqtt.url", "http",
                "must be a URL starting with tcp://, mqtt://, ssl:// or mqtts://");
    check_error("backends:\n  - url: ftp://llm\n", "backends[0].url", "ftp",
                "must be a URL starting with http:// or https://");
    check_error("backends:\n  - url: http://\n", "backends[0].url", "http", "naming a host");
    check_error("backends:\n  - name: a\n    slots: 2\n", "backends[0]", "name", "missing key url");

    const auto c = parse_ok(
        "mqtt:\n  url: mqtt://broker:1883\nbackends:\n  - url: https://llm.example/api//\n");
    CHECK(c->mqtt.url == "tcp://broker:1883");
    CHECK_FALSE(c->mqtt.uses_tls());
    CHECK(c->backends[0].url == "https://llm.example/api");
    CHECK(parse_ok("mqtt:\n  url: mqtts://broker:8883\n")->mqtt.url == "ssl://broker:8883");
    CHECK(parse_ok("mqtt:\n  url: ssl://broker:8883\n")->mqtt.uses_tls());
}

TEST_CASE("config: TLS settings; relative paths are relative to the file; key needs cert") {
    const auto c = parse_ok(
        "mqtt:\n  url: mqtts://b:8883\n  tls:\n    ca_file: ca.pem\n    cert_file: /etc/c.pem\n"
        "    key_file: c.key\n    key_password: pw\n    insecure: true\n"
        "backends:\n  - url: https://l\n    tls:\n      ca_path: certs\n");
    CHECK(c->mqtt.tls.ca_file == "ca.pem");  // the test file name has no directory
    CHECK(c->mqtt.tls.cert_file == "/etc/c.pem");
    CHECK(c->mqtt.tls.key_file == "c.key");
    CHECK(c->mqtt.tls.key_password == "pw");
    CHECK(c->mqtt.tls.insecure);
    CHECK(c->backends[0].tls.ca_path == "certs");
    CHECK_FALSE(c->backends[0].tls.insecure);
    check_error("mqtt:\n  tls:\n    key_file: k.pem\n", "mqtt.tls.key_file", "k.pem",
                "a key_file needs a cert_file");
    check_error("mqtt:\n  tls:\n    insecure: yes please\n", "mqtt.tls.insecure", "yes",
                "must be true or false");
    check_error("mqtt:\n  tls:\n    ca_fil: x\n", "mqtt.tls.ca_fil", "ca_fil", "ca_file");
}

TEST_CASE("config: MQTT 5 response prefixes and chunk expiry") {
    const auto c =
        parse_ok("mqtt:\n  chunk_expiry_s: 30\n  response_prefixes: [llm/response/, devices/]\n");
    CHECK(c->mqtt.chunk_expiry_s == 30);
    CHECK(c->mqtt.response_prefixes == std::vector<std::string>{"llm/response/", "devices/"});
    check_error("mqtt:\n  response_prefixes: [llm/+/x]\n", "mqtt.response_prefixes[0]", "llm/+",
                "without wildcards");
    check_error("mqtt:\n  response_prefixes: [\"$SYS/\"]\n", "mqtt.response_prefixes[0]", "\"$SYS",
                "without wildcards");
    check_error("mqtt:\n  chunk_expiry_s: -1\n", "mqtt.chunk_expiry_s", "-1", "");
    const auto own = parse_ok("mqtt:\n  response_prefixes: [\"devices/{client}/answers/\"]\n");
    CHECK(own->mqtt.response_prefixes == std::vector<std::string>{"devices/{client}/answers/"});
    check_error("mqtt:\n  response_prefixes: [\"devices/x{client}/\"]\n",
                "mqtt.response_prefixes[0]", "\"devices", "{client} only as a whole level");
    check_error("mqtt:\n  response_prefixes: [\"devices/{clients}/\"]\n",
                "mqtt.response_prefixes[0]", "\"devices", "{client} only as a whole level");
}

TEST_CASE("config: cluster, metrics and shared sessions") {
    const auto c = parse_ok(
        "cluster:\n  group: g1\n  bridge_id: b-2\n  takeover: false\nmetrics:\n"
        "  interval_s: 0\n  topic: ops/llm/metrics\nsessions:\n  state_dir: /s\n  shared: true\n");
    CHECK(c->cluster.group == "g1");
    CHECK(c->cluster.bridge_id == "b-2");
    CHECK_FALSE(c->cluster.takeover);
    CHECK(c->metrics.interval == std::chrono::seconds(0));
    CHECK(c->metrics.topic == "ops/llm/metrics");
    CHECK(c->sessions.shared);
    const auto d = parse_ok("");
    CHECK(d->cluster.group.empty());
    CHECK(d->cluster.takeover);
    CHECK(d->metrics.interval == std::chrono::seconds(10));
    check_error("cluster:\n  group: a/b\n", "cluster.group", "a/b", "[A-Za-z0-9_.-]");
    check_error("metrics:\n  topic: llm/#\n", "metrics.topic", "llm/#", "without wildcards");
    check_error("sessions:\n  shared: true\n", "sessions.shared", "true", "state_dir");
}

TEST_CASE("config: resume bounds and ttl") {
    const auto d = parse_ok("");
    CHECK(d->resume.ttl == std::chrono::seconds(60));
    CHECK(d->resume.request_bytes == 256 * 1024);
    CHECK(d->resume.total_bytes == 16u << 20);
    const auto c =
        parse_ok("resume:\n  ttl_s: 0\n  max_request_bytes: 4096\n  max_total_bytes: 65536\n");
    CHECK(c->resume.ttl == std::chrono::seconds(0));
    CHECK(c->resume.request_bytes == 4096);
    CHECK(c->resume.total_bytes == 65536);
    check_error("resume:\n  ttl_s: -1\n", "resume.ttl_s", "-1", "");
    check_error("resume:\n  max_total_bytes: lots\n", "resume.max_total_bytes", "lots", "");
    check_error("resume:\n  ttl: 5\n", "resume.ttl", "ttl", "ttl_s");
}

TEST_CASE("config: project prefixes are valid and unique; names default to them") {
    check_error("projects:\n  - prefix: llm\n  - prefix: maze\n  - prefix: llm\n",
                "projects[2].prefix", "llm", "duplicate project prefix \"llm\" (also projects[0]",
                1);
    check_error("projects:\n  - name: a\n  - name: b\n", "projects[1].prefix", "name: b",
                "duplicate project prefix \"llm\"");
    check_error("projects:\n  - prefix: llm/#\n", "projects[0].prefix", "llm/#",
                "must be topic levels");
    check_error("projects:\n  - prefix: $SYS\n", "projects[0].prefix", "$SYS",
                "must be topic levels");
    check_error("projects:\n  - prefix: a\n    name: dup\n  - prefix: b\n    name: dup\n",
                "projects[1].name", "dup", "duplicate project name \"dup\"", 1);

    const auto c = parse_ok("projects:\n  - prefix: site/llm\n  - prefix: maze\n    name: Maze\n");
    REQUIRE(c->projects.size() == 2);
    CHECK(c->projects[0].prefix == "site/llm");
    CHECK(c->projects[0].name == "site/llm");
    CHECK(c->projects[1].name == "Maze");
}

TEST_CASE("config: backend names are unique; they default to backend<index>") {
    check_error("backends:\n  - name: gpu\n    url: http://a\n  - name: gpu\n    url: http://b\n",
                "backends[1].name", "gpu", "duplicate backend name \"gpu\" (also backends[0].name)",
                1);
    const auto c = parse_ok("backends:\n  - url: http://a\n  - url: http://b\n    models: [m]\n");
    REQUIRE(c->backends.size() == 2);
    CHECK(c->backends[0].name == "backend0");
    CHECK(c->backends[1].name == "backend1");
    CHECK(c->backends[1].models == std::vector<std::string>{"m"});
}

TEST_CASE("config: secrets come inline, from a file or from the environment, one way only") {
    check_error("mqtt:\n  password: a\n  username: u\n  password_env: PW\n", "mqtt.password_env",
                "password_env", "already given by password on line 2");
    check_error("backends:\n  - api_key_file: /k\n    url: http://a\n    api_key: x\n",
                "backends[0].api_key", "api_key:", "already given by api_key_file", 0,
                fake_env({}, {{"/k", "x"}}));
    check_error("mqtt:\n  password_file: /run/secrets/nope\n", "mqtt.password_file", "/run",
                "cannot read \"/run/secrets/nope\": No such file or directory");
    check_error("mqtt:\n  password_env: LLMB_NOT_SET\n", "mqtt.password_env", "LLMB",
                "environment variable LLMB_NOT_SET is not set");
    check_error("mqtt:\n  password_env: not a name\n", "mqtt.password_env", "not",
                "must name an environment variable");

    const auto env = fake_env(
        {{"KEY", "k-env"}}, {{"/etc/llmb/pw", "s3cret\n\n"}, {"/etc/llmb/keys/gpu", "k-file\r\n"}});
    const auto r = llmb::parse_config(
        "mqtt:\n  password_file: pw\nbackends:\n  - url: http://a\n    api_key_env: KEY\n"
        "  - url: http://b\n    api_key_file: keys/gpu\n  - url: http://c\n    api_key: inline\n",
        "/etc/llmb/bridge.yaml", env);
    REQUIRE(r.cfg);
    CHECK(r.cfg->mqtt.password == "s3cret");
    CHECK(r.cfg->backends[0].api_key == "k-env");
    CHECK(r.cfg->backends[1].api_key == "k-file");
    CHECK(r.cfg->backends[2].api_key == "inline");
}

TEST_CASE("config: tools are a list of functions, kept as compact JSON") {
    const auto c = parse_ok(
        "projects:\n  - tools:\n      - type: function\n        function:\n"
        "          name: move\n          description: Move one step.\n"
        "          parameters:\n            type: object\n            properties:\n"
        "              steps: {type: integer, minimum: 1, default: 1.5, enum: [1, \"2\", null]}\n"
        "            required: [steps]\n            additionalProperties: false\n"
        "      - type: function\n        function: {name: look}\n");
    const auto& tools = c->projects[0].tools_json;
    CHECK(tools == nlohmann::ordered_json::parse(tools).dump());  // compact, in file order
    const auto expected = nlohmann::json::parse(R"([
        {"type": "function", "function": {"name": "move", "description": "Move one step.",
         "parameters": {"type": "object", "properties": {"steps": {"type": "integer",
         "minimum": 1, "default": 1.5, "enum": [1, "2", null]}}, "required": ["steps"],
         "additionalProperties": false}}},
        {"type": "function", "function": {"name": "look"}}])");
    CHECK(nlohmann::json::parse(tools) == expected);

    check_error("projects:\n  - tools: {name: move}\n", "projects[0].tools", "{name",
                "must be a list of tools ({type: function, function: {name: ...}}), got a map");
    check_error("projects:\n  - tools:\n      - function: {name: a}\n", "projects[0].tools[0]",
                "function", "missing key type");
    check_error("projects:\n  - tools:\n      - type: func\n        function: {name: a}\n",
                "projects[0].tools[0].type", "func", "must be one of function", 0);
    check_error(
        "projects:\n  - tools:\n      - type: function\n        function: {description: d}\n",
        "projects[0].tools[0].function", "{desc", "missing key name");
    check_error(
        "projects:\n  - tools:\n      - type: function\n        function: {name: a, parameter: "
        "{}}\n",
        "projects[0].tools[0].function.parameter", "parameter", "did you mean parameters?");
    check_error(
        "projects:\n  - tools:\n      - type: function\n        function: {name: a, parameters: "
        "[x]}\n",
        "projects[0].tools[0].function.parameters", "[x", "must be a map (a JSON Schema object)");
    check_error("projects:\n  - tools:\n      - type: function\n        function: {name: a b}\n",
                "projects[0].tools[0].function.name", "a b", "must be a function name");
    check_error(
        "projects:\n  - tools:\n      - type: function\n        function: {name: a}\n"
        "      - type: function\n        function: {name: a}\n",
        "projects[0].tools[1].function.name", "a}", "duplicate function name \"a\"", 1);
    check_error("projects:\n  - tools:\n      - move\n", "projects[0].tools[0]", "move",
                "must be a map with the keys type, function");
}

TEST_CASE("config: LoRA adapters") {
    const auto c = parse_ok("projects:\n  - lora: [{id: 0, scale: 0.5}, {id: 2}]\n");
    REQUIRE(c->projects[0].lora.size() == 2);
    CHECK(c->projects[0].lora[0].scale == 0.5);
    CHECK(c->projects[0].lora[1].id == 2);
    CHECK(c->projects[0].lora[1].scale == 1.0);
    check_error("projects:\n  - lora: [{scale: 0.5}]\n", "projects[0].lora[0]", "{scale",
                "missing key id");
    check_error("projects:\n  - lora: [{id: 1}, {id: 1}]\n", "projects[0].lora[1].id", "1",
                "duplicate adapter id \"1\"", 1);
}

TEST_CASE("config: a project's defaults must fit its limits and its model must be served") {
    check_error("projects:\n  - max_tokens: 5000\n    limits: {max_tokens: 4096}\n",
                "projects[0].max_tokens", "5000", "must not exceed limits.max_tokens (4096)");
    check_error("backends:\n  - url: http://a\n    models: [qwen]\nprojects:\n  - model: llama\n",
                "projects[0].model", "llama", "no backend serves \"llama\"");
    // A backend without a model list serves any model.
    parse_ok(
        "backends:\n  - url: http://a\n    models: [qwen]\n  - url: http://b\n"
        "projects:\n  - model: llama\n");
}

TEST_CASE("config: all errors are reported, in file order") {
    const std::string yaml =
        "log_level: loud\n"
        "sessions:\n  ttl_s: 0\n  max_sesions: 5\n"
        "projects:\n  - prefix: a/+\n    temperature: hot\n"
        "mqtt:\n  qos: 7\n"
        "backends:\n  - url: gopher://x\n";
    const auto r = parse(yaml);
    CHECK_FALSE(r.cfg);
    REQUIRE(r.errors.size() == 7);
    const std::pair<const char*, const char*> expected[] = {{"log_level", "loud"},
                                                            {"sessions.ttl_s", "0"},
                                                            {"sessions.max_sesions", "max_"},
                                                            {"projects[0].prefix", "a/+"},
                                                            {"projects[0].temperature", "hot"},
                                                            {"mqtt.qos", "7"},
                                                            {"backends[0].url", "gopher"}};
    for (std::size_t i = 0; i < r.errors.size(); ++i) {
        INFO(r.errors[i].to_string());
        CHECK(r.errors[i].path == expected[i].first);
        const auto [line, column] = position_of(yaml, expected[i].second);
        CHECK(r.errors[i].line == line);
        CHECK(r.errors[i].column == column);
    }
}

TEST_CASE("config: an error is one line, file:line:column: path: message") {
    config_error e;
    e.file = "bridge.yaml";
    e.line = 12;
    e.column = 9;
    e.path = "backends[1].slots";
    e.message = "must be an integer from 1 to 100000, got \"many\"";
    CHECK(e.to_string() ==
          "bridge.yaml:12:9: backends[1].slots: must be an integer from 1 to 100000, got \"many\"");
    e.path.clear();
    CHECK(e.to_string() == "bridge.yaml:12:9: must be an integer from 1 to 100000, got \"many\"");

    const auto r = llmb::load_config("/etc/none.yaml", fake_env());
    CHECK_FALSE(r.cfg);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line == 0);
    CHECK(r.errors[0].to_string() == "/etc/none.yaml: cannot read: No such file or directory");
}

TEST_CASE("config: the system environment reads real files and variables") {
    const auto env = config_environment::system();
    char dir_template[] = "/tmp/llmb-config-test-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    const std::string file = dir + "/bridge.yaml";
    {
        std::ofstream out(file);
        out << "mqtt:\n  password_file: pw\n  qos: 0\n";
        std::ofstream pw(dir + "/pw");
        pw << "from-file\n";
    }
    std::string why;
    CHECK_FALSE(env.read_file(dir + "/missing", why));
    CHECK(why == "No such file or directory");
    CHECK_FALSE(env.read_file(dir, why));
    CHECK(why.find("directory") != std::string::npos);

    const auto r = llmb::load_config(file, env);
    for (const auto& e : r.errors)
        INFO(e.to_string());
    REQUIRE(r.cfg);
    CHECK(r.cfg->mqtt.password == "from-file");
    CHECK(r.cfg->mqtt.qos == 0);
    CHECK(r.cfg->source == file);

    const auto missing = llmb::load_config(dir + "/missing.yaml", env);
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].to_string() ==
          dir + "/missing.yaml: cannot read: No such file or directory");

    REQUIRE(setenv("LLMB_CONFIG_TEST_VAR", "value 1", 1) == 0);
    CHECK(env.getenv("LLMB_CONFIG_TEST_VAR") == std::optional<std::string>("value 1"));
    unsetenv("LLMB_CONFIG_TEST_VAR");
    CHECK_FALSE(env.getenv("LLMB_CONFIG_TEST_VAR"));

    std::remove((dir + "/pw").c_str());
    std::remove(file.c_str());
    rmdir(dir.c_str());
}

namespace {

const std::string example_path = std::string(LLMB_SOURCE_DIR) + "/config/llm-mqtt-bridge.yaml";
const std::string readme_path = std::string(LLMB_SOURCE_DIR) + "/config/README.md";

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// (section, key) pairs of the README's tables: a heading naming a section in backticks
// (`mqtt`, `backends[]`, `projects[].limits`, or "top level"), then rows "| `key` | ...".
std::set<std::pair<std::string, std::string>> documented_keys() {
    std::set<std::pair<std::string, std::string>> keys;
    std::istringstream in(read_text(readme_path));
    const std::regex heading(R"(^#+ .*`([a-z_\[\].]+)`)");
    const std::regex top_heading(R"(^#+ [Tt]op level)");
    const std::regex row(R"(^\| `([a-z_]+)` \|)");
    std::string section = "?";
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_search(line, m, heading))
            section = m[1];
        else if (std::regex_search(line, top_heading))
            section = "";
        else if (std::regex_search(line, m, row))
            keys.emplace(section, m[1]);
    }
    return keys;
}

// (section, key) pairs of keys present in a YAML tree; list indices become "[]". The contents
// of tools are OpenAI's format, not keys of this file.
void collect_keys(const YAML::Node& node, const std::string& section,
                  std::set<std::pair<std::string, std::string>>& out) {
    if (node.IsSequence()) {
        for (const auto& item : node)
            collect_keys(item, section + "[]", out);
    } else if (node.IsMap()) {
        for (const auto& kv : node) {
            const std::string key = kv.first.Scalar();
            out.emplace(section, key);
            if (key != "tools")
                collect_keys(kv.second, section.empty() ? key : section + "." + key, out);
        }
    }
}

}  // namespace

TEST_CASE("config: the example file parses and holds what it shows") {
    const auto r = llmb::load_config(example_path, config_environment::system());
    for (const auto& e : r.errors)
        INFO(e.to_string());
    REQUIRE(r.errors.empty());
    REQUIRE(r.cfg);
    const auto& c = *r.cfg;
    CHECK(c.mqtt.url == "tcp://127.0.0.1:1883");
    CHECK(c.mqtt.version == llmb::protocol::version_choice::automatic);
    CHECK(c.mqtt.keep_alive_s == 30);
    CHECK(c.mqtt.text_topic);
    CHECK(c.mqtt.text_qos == 0);
    REQUIRE(c.backends.size() == 1);
    CHECK(c.backends[0].name == "local");
    CHECK(c.backends[0].url == "http://127.0.0.1:8080");
    CHECK(c.backends[0].models.empty());
    CHECK(c.backends[0].health_interval == std::chrono::milliseconds(10000));
    CHECK(c.timeouts.idle == std::chrono::milliseconds(60000));
    REQUIRE(c.projects.size() == 2);
    CHECK(c.projects[0].prefix == "llm");
    CHECK_FALSE(c.projects[0].legacy);
    CHECK(c.projects[0].request_limits.max_request_bytes == 262144);
    CHECK(c.projects[0].rate.burst == 20.0);
    const auto& maze = c.projects[1];
    CHECK(maze.prefix == "maze");
    CHECK(maze.name == "maze game");
    CHECK(maze.legacy);
    CHECK(maze.system_prompt.rfind("You are the narrator of a maze game", 0) == 0);
    CHECK(maze.temperature == 0.7);
    CHECK(maze.max_tokens == std::optional<std::uint32_t>(256));
    CHECK(maze.thinking == llmb::thinking_mode::off);
    REQUIRE(maze.lora.size() == 1);
    CHECK(maze.lora[0].scale == 0.5);
    const auto tools = nlohmann::json::parse(maze.tools_json);
    REQUIRE(tools.size() == 1);
    CHECK(tools[0]["function"]["name"] == "move");
    CHECK(tools[0]["function"]["parameters"]["required"] == nlohmann::json::array({"direction"}));
    CHECK(maze.rate.per_second == 0.5);
    CHECK(maze.max_concurrent_per_client == 1);
    CHECK(c.sessions.state_dir == "/var/lib/llm-mqtt-bridge");
    CHECK(c.sessions.max_messages == 200);
    CHECK(c.max_in_flight == 4096);
    CHECK(c.log_level == "info");
}

TEST_CASE(
    "config: the README documents every key of the example, and the example shows every "
    "documented key") {
    const auto documented = documented_keys();
    // The README's tables were read (a few keys of different sections, as a sanity check).
    REQUIRE(documented.count({"mqtt", "password_env"}) == 1);
    REQUIRE(documented.count({"backends[]", "health_interval_ms"}) == 1);
    REQUIRE(documented.count({"projects[].limits", "rate_burst"}) == 1);
    REQUIRE(documented.count({"", "log_level"}) == 1);

    const std::string example = read_text(example_path);
    std::set<std::pair<std::string, std::string>> present;
    collect_keys(YAML::Load(example), "", present);
    for (const auto& [section, key] : present) {
        INFO("example key " << section << " " << key);
        CHECK(documented.count({section, key}) == 1);
    }
    // Alternatives that exclude each other (password_file, a second backend) can only be shown
    // commented out: a documented key must appear in the example as "key:", maybe after "# ".
    for (const auto& [section, key] : documented) {
        INFO("documented key " << section << " " << key);
        const std::regex shown("(^|\\n)[ ]*(#[ ]*)?(- )?" + key + ":");
        CHECK(std::regex_search(example, shown));
    }
}

TEST_CASE("config: an unknown key with line breaks or control bytes stays on one error line") {
    const auto r = parse("mqtt:\n  ? |\n    two\n    lines\n  : 1\n", fake_env());
    REQUIRE(r.errors.size() == 1);
    const std::string line = r.errors[0].to_string();
    INFO(line);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(r.errors[0].path == "mqtt.\"two\\nlines\\n\"");
    const auto cr = parse(std::string(":\n\0r", 4), fake_env());
    for (const auto& e : cr.errors) {
        INFO(e.to_string());
        CHECK(e.to_string().find_first_of("\r\n") == std::string::npos);
    }
}
