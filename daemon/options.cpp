#include "daemon/options.hpp"

#include <unistd.h>

#include <charconv>
#include <string_view>

namespace llmb {

namespace {

constexpr std::string_view usage_text = R"(Usage: llm-mqtt-bridge [options]

Relays prompts published on MQTT to an OpenAI-compatible LLM server and streams the answers
back as sequence-numbered MQTT events (see protocol/PROTOCOL.md).

MQTT:
  --mqtt URL                 broker, tcp://HOST:PORT or mqtt://HOST:PORT (default tcp://127.0.0.1:1883)
  --client-id ID             MQTT client id (default llm-mqtt-bridge-HOST-PID)
  --mqtt-version 5|3.1.1     protocol version (default 5)
  --prefix P                 topic prefix (default llm)
  --max-packet BYTES         cap on every PUBLISH packet (default 268435455)
  --qos 0|1                  QoS of response events (default 1)
  --no-text-topic            do not publish raw text on PREFIX/text/CLIENT/ID
LLM server:
  --llm URL                  base URL (default http://127.0.0.1:8080)
  --model NAME               model asked for when a request names none
  --connect-timeout-ms N     (default 5000)
  --first-byte-timeout-ms N  (default 120000)
  --idle-timeout-ms N        longest silence between chunks (default 60000)
  --total-timeout-ms N       longest request (default 600000)
Limits:
  --max-request-bytes N      (default 262144)
  --max-in-flight N          requests at once before 'overloaded' (default 4096)
Process:
  --grace-ms N               on SIGTERM, time for requests in flight to finish (default 10000)
  --log-level LEVEL          trace, debug, info, warn, error (default info)
  -v                         same as --log-level debug
  --version, --help
)";

template <class T>
bool parse_number(std::string_view s, T& out) {
    const auto* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, out);
    return ec == std::errc() && p == end;
}

std::string default_client_id() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::string id = "llm-mqtt-bridge-";
    for (const char* c = host; *c != '\0' && id.size() < 48; ++c) {
        const char ch = *c;
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        id += ok ? ch : '_';
    }
    return id + "-" + std::to_string(getpid());
}

}  // namespace

parse_outcome parse_command_line(int argc, const char* const* argv) {
    bridge_options o;
    parse_outcome out;
    auto fail = [&](std::string msg) {
        out.options.reset();
        out.exit_code = 2;
        out.output = "llm-mqtt-bridge: " + msg + "\nTry 'llm-mqtt-bridge --help'.\n";
        return out;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&](std::string_view& v) {
            if (i + 1 >= argc) return false;
            v = argv[++i];
            return true;
        };
        auto ms_value = [&](std::chrono::milliseconds& dst) {
            std::string_view v;
            std::int64_t n = 0;
            if (!value(v) || !parse_number(v, n) || n < 0) return false;
            dst = std::chrono::milliseconds(n);
            return true;
        };
        std::string_view v;
        if (arg == "--help" || arg == "-h") {
            out.output = std::string(usage_text);
            return out;
        } else if (arg == "--version") {
            out.output = "llm-mqtt-bridge " LLMB_VERSION "\n";
            return out;
        } else if (arg == "--mqtt") {
            if (!value(v)) return fail("--mqtt needs a URL");
            o.mqtt_uri = v;
            if (o.mqtt_uri.rfind("mqtt://", 0) == 0) o.mqtt_uri = "tcp://" + o.mqtt_uri.substr(7);
        } else if (arg == "--client-id") {
            if (!value(v) || v.empty()) return fail("--client-id needs a value");
            o.client_id = v;
        } else if (arg == "--mqtt-version") {
            if (!value(v)) return fail("--mqtt-version needs 5 or 3.1.1");
            if (v == "5") {
                o.mqtt_version = protocol::mqtt_version::v5;
            } else if (v == "3.1.1" || v == "3" || v == "4") {
                o.mqtt_version = protocol::mqtt_version::v3_1_1;
            } else {
                return fail("--mqtt-version must be 5 or 3.1.1");
            }
        } else if (arg == "--prefix") {
            if (!value(v) || v.empty()) return fail("--prefix needs a value");
            o.prefix = v;
        } else if (arg == "--max-packet") {
            if (!value(v) || !parse_number(v, o.max_packet) || o.max_packet < 64 ||
                o.max_packet > 268435455)
                return fail("--max-packet must be a number of bytes from 64 to 268435455");
        } else if (arg == "--qos") {
            if (!value(v) || !parse_number(v, o.qos) || o.qos < 0 || o.qos > 1)
                return fail("--qos must be 0 or 1");
        } else if (arg == "--no-text-topic") {
            o.text_topic = false;
        } else if (arg == "--llm") {
            if (!value(v) || v.empty()) return fail("--llm needs a URL");
            o.llm_url = v;
            while (!o.llm_url.empty() && o.llm_url.back() == '/') o.llm_url.pop_back();
        } else if (arg == "--model") {
            if (!value(v)) return fail("--model needs a name");
            o.model = v;
        } else if (arg == "--connect-timeout-ms") {
            if (!ms_value(o.connect_timeout)) return fail("--connect-timeout-ms needs milliseconds");
        } else if (arg == "--first-byte-timeout-ms") {
            if (!ms_value(o.first_byte_timeout))
                return fail("--first-byte-timeout-ms needs milliseconds");
        } else if (arg == "--idle-timeout-ms") {
            if (!ms_value(o.idle_timeout)) return fail("--idle-timeout-ms needs milliseconds");
        } else if (arg == "--total-timeout-ms") {
            if (!ms_value(o.total_timeout)) return fail("--total-timeout-ms needs milliseconds");
        } else if (arg == "--max-request-bytes") {
            if (!value(v) || !parse_number(v, o.limits.max_request_bytes) ||
                o.limits.max_request_bytes < 64)
                return fail("--max-request-bytes must be a number of bytes, at least 64");
        } else if (arg == "--max-in-flight") {
            if (!value(v) || !parse_number(v, o.max_in_flight) || o.max_in_flight == 0)
                return fail("--max-in-flight must be a positive number");
        } else if (arg == "--grace-ms") {
            if (!ms_value(o.grace)) return fail("--grace-ms needs milliseconds");
        } else if (arg == "--log-level") {
            if (!value(v)) return fail("--log-level needs a level");
            const auto lvl = spdlog::level::from_str(std::string(v));
            if (lvl == spdlog::level::off && v != "off")
                return fail("unknown log level '" + std::string(v) + "'");
            o.log_level = lvl;
        } else if (arg == "-v" || arg == "--verbose") {
            o.log_level = spdlog::level::debug;
        } else {
            return fail("unknown option '" + std::string(arg) + "'");
        }
    }
    if (o.client_id.empty()) o.client_id = default_client_id();
    if (o.mqtt_uri.rfind("tcp://", 0) != 0)
        return fail("--mqtt must be a tcp:// or mqtt:// URL (TLS comes with the config file)");
    if (o.llm_url.rfind("http://", 0) != 0 && o.llm_url.rfind("https://", 0) != 0)
        return fail("--llm must be an http:// or https:// URL");
    out.options = std::move(o);
    return out;
}

}  // namespace llmb
