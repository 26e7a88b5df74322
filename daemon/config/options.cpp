#include "daemon/config/options.hpp"

#include <unistd.h>

#include <spdlog/common.h>

#include <charconv>
#include <string_view>

namespace llmb {

namespace {

constexpr std::string_view usage_text = R"(Usage: llm-mqtt-bridge [--config FILE] [options]

Relays prompts published on MQTT to an OpenAI-compatible LLM server and streams the answers
back as sequence-numbered MQTT events (see protocol/PROTOCOL.md). Options given here override
the config file; SIGHUP re-reads the file.

  -c, --config FILE          YAML configuration (see config/llm-mqtt-bridge.yaml)
  --check-config             validate the configuration, print what is wrong, exit 0 or 1

MQTT:
  --mqtt URL                 broker, tcp:// or mqtt://HOST:PORT, ssl:// or mqtts:// for TLS
                             (default tcp://127.0.0.1:1883)
  --client-id ID             MQTT client id (default llm-mqtt-bridge-HOST-PID)
  --mqtt-version V           auto (default: 5, or 3.1.1 for a broker that refuses 5), 5
                             (only) or 3.1.1
  --session-expiry-s N       persistent MQTT session kept N s by the broker (default 0: clean
                             start on every connect)
  --prefix P                 topic prefix of the first project (default llm)
  --max-packet BYTES         cap on every PUBLISH packet (default 268435455)
  --qos 0|1                  QoS of response events (default 1)
  --text-qos 0|1             QoS of the raw text on PREFIX/text/CLIENT/ID (default 0)
  --no-text-topic            do not publish raw text on PREFIX/text/CLIENT/ID
  --max-inflight N           publishes not yet acknowledged by the broker, at most (default
                             100; the broker's Receive Maximum may allow fewer)
LLM server:
  --llm URL                  base URL of the one backend (default http://127.0.0.1:8080)
  --model NAME               model asked for when a request names none (first project)
  --connect-timeout-ms N     (default 5000)
  --first-byte-timeout-ms N  (default 120000)
  --idle-timeout-ms N        longest silence between chunks (default 60000)
  --total-timeout-ms N       longest request (default 600000)
Limits:
  --max-request-bytes N      (default 262144)
  --max-in-flight N          requests at once before 'overloaded' (default 4096)
Resume (events held for devices that reconnect):
  --resume-ttl-s N           held N s after a request's terminal (default 60)
  --resume-max-request-bytes N
                             held per request, its latest events (default 262144)
  --resume-max-total-bytes N held in all, finished requests evicted first (default 16777216;
                             0: resume off)
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
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
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
    command_line o;
    parse_outcome out;
    auto fail = [&](std::string msg) {
        out.args.reset();
        out.exit_code = 2;
        out.output = "llm-mqtt-bridge: " + msg + "\nTry 'llm-mqtt-bridge --help'.\n";
        return out;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&](std::string_view& v) {
            if (i + 1 >= argc)
                return false;
            v = argv[++i];
            return true;
        };
        auto ms_value = [&](std::optional<std::chrono::milliseconds>& dst) {
            std::string_view v;
            std::int64_t n = 0;
            if (!value(v) || !parse_number(v, n) || n < 0)
                return false;
            dst = std::chrono::milliseconds(n);
            return true;
        };
        auto size_value = [&](std::optional<std::size_t>& dst, std::size_t min, std::size_t max) {
            std::string_view v;
            std::size_t n = 0;
            if (!value(v) || !parse_number(v, n) || n < min || n > max)
                return false;
            dst = n;
            return true;
        };
        std::string_view v;
        if (arg == "--help" || arg == "-h") {
            out.output = std::string(usage_text);
            return out;
        } else if (arg == "--version") {
            out.output = "llm-mqtt-bridge " LLMB_VERSION "\n";
            return out;
        } else if (arg == "--config" || arg == "-c") {
            if (!value(v) || v.empty())
                return fail("--config needs a file");
            o.config_path = std::string(v);
        } else if (arg == "--check-config") {
            o.check_config = true;
        } else if (arg == "--mqtt") {
            if (!value(v))
                return fail("--mqtt needs a URL");
            std::string url(v);
            if (url.rfind("mqtt://", 0) == 0)
                url = "tcp://" + url.substr(7);
            if (url.rfind("mqtts://", 0) == 0)
                url = "ssl://" + url.substr(8);
            if (url.rfind("tcp://", 0) != 0 && url.rfind("ssl://", 0) != 0)
                return fail("--mqtt must be a tcp://, mqtt://, ssl:// or mqtts:// URL");
            o.mqtt_url = url;
        } else if (arg == "--client-id") {
            if (!value(v) || v.empty())
                return fail("--client-id needs a value");
            o.client_id = std::string(v);
        } else if (arg == "--mqtt-version") {
            if (!value(v))
                return fail("--mqtt-version needs auto, 5 or 3.1.1");
            if (v == "auto") {
                o.mqtt_version = protocol::version_choice::automatic;
            } else if (v == "5") {
                o.mqtt_version = protocol::version_choice::v5;
            } else if (v == "3.1.1" || v == "3" || v == "4") {
                o.mqtt_version = protocol::version_choice::v3_1_1;
            } else {
                return fail("--mqtt-version must be auto, 5 or 3.1.1");
            }
        } else if (arg == "--prefix") {
            if (!value(v) || v.empty())
                return fail("--prefix needs a value");
            o.prefix = std::string(v);
        } else if (arg == "--max-packet") {
            if (!size_value(o.max_packet, 64, 268435455))
                return fail("--max-packet must be a number of bytes from 64 to 268435455");
        } else if (arg == "--session-expiry-s") {
            std::uint32_t n = 0;
            if (!value(v) || !parse_number(v, n))
                return fail("--session-expiry-s must be a number of seconds from 0 to 4294967295");
            o.session_expiry_s = n;
        } else if (arg == "--qos") {
            int q = 0;
            if (!value(v) || !parse_number(v, q) || q < 0 || q > 1)
                return fail("--qos must be 0 or 1");
            o.qos = q;
        } else if (arg == "--text-qos") {
            int q = 0;
            if (!value(v) || !parse_number(v, q) || q < 0 || q > 1)
                return fail("--text-qos must be 0 or 1");
            o.text_qos = q;
        } else if (arg == "--no-text-topic") {
            o.no_text_topic = true;
        } else if (arg == "--max-inflight") {
            std::size_t n = 0;
            if (!value(v) || !parse_number(v, n) || n < 1 || n > 65535)
                return fail("--max-inflight must be a number from 1 to 65535");
            o.max_inflight = n;
        } else if (arg == "--llm") {
            if (!value(v) || v.empty())
                return fail("--llm needs a URL");
            std::string url(v);
            while (!url.empty() && url.back() == '/')
                url.pop_back();
            if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
                return fail("--llm must be an http:// or https:// URL");
            o.llm_url = url;
        } else if (arg == "--model") {
            if (!value(v))
                return fail("--model needs a name");
            o.model = std::string(v);
        } else if (arg == "--connect-timeout-ms") {
            if (!ms_value(o.connect_timeout))
                return fail("--connect-timeout-ms needs milliseconds");
        } else if (arg == "--first-byte-timeout-ms") {
            if (!ms_value(o.first_byte_timeout))
                return fail("--first-byte-timeout-ms needs milliseconds");
        } else if (arg == "--idle-timeout-ms") {
            if (!ms_value(o.idle_timeout))
                return fail("--idle-timeout-ms needs milliseconds");
        } else if (arg == "--total-timeout-ms") {
            if (!ms_value(o.total_timeout))
                return fail("--total-timeout-ms needs milliseconds");
        } else if (arg == "--max-request-bytes") {
            if (!size_value(o.max_request_bytes, 64, 16 * 1024 * 1024))
                return fail("--max-request-bytes must be a number of bytes from 64 to 16 MiB");
        } else if (arg == "--max-in-flight") {
            if (!size_value(o.max_in_flight, 1, 1000000))
                return fail("--max-in-flight must be a number from 1 to 1000000");
        } else if (arg == "--resume-ttl-s") {
            std::optional<std::size_t> n;
            if (!size_value(n, 0, 86400))
                return fail("--resume-ttl-s must be a number of seconds from 0 to 86400");
            o.resume_ttl_s = static_cast<std::uint32_t>(*n);
        } else if (arg == "--resume-max-request-bytes") {
            if (!size_value(o.resume_request_bytes, 0, std::size_t{1} << 30))
                return fail("--resume-max-request-bytes must be a number of bytes up to 1 GiB");
        } else if (arg == "--resume-max-total-bytes") {
            if (!size_value(o.resume_total_bytes, 0, std::size_t{16} << 30))
                return fail("--resume-max-total-bytes must be a number of bytes up to 16 GiB");
        } else if (arg == "--grace-ms") {
            if (!ms_value(o.grace))
                return fail("--grace-ms needs milliseconds");
        } else if (arg == "--log-level") {
            if (!value(v))
                return fail("--log-level needs a level");
            const auto lvl = spdlog::level::from_str(std::string(v));
            if (lvl == spdlog::level::off && v != "off")
                return fail("unknown log level '" + std::string(v) + "'");
            o.log_level = std::string(v);
        } else if (arg == "-v" || arg == "--verbose") {
            o.log_level = "debug";
        } else {
            return fail("unknown option '" + std::string(arg) + "'");
        }
    }
    out.args = std::move(o);
    return out;
}

std::shared_ptr<const config> apply_overrides(const config& base, const command_line& cl) {
    auto c = std::make_shared<config>(base);
    if (cl.mqtt_url)
        c->mqtt.url = *cl.mqtt_url;
    if (cl.client_id)
        c->mqtt.client_id = *cl.client_id;
    if (c->mqtt.client_id.empty())
        c->mqtt.client_id = default_client_id();
    if (cl.mqtt_version)
        c->mqtt.version = *cl.mqtt_version;
    if (cl.max_packet)
        c->mqtt.max_packet = *cl.max_packet;
    if (cl.qos)
        c->mqtt.qos = *cl.qos;
    if (cl.session_expiry_s)
        c->mqtt.session_expiry_s = *cl.session_expiry_s;
    if (cl.text_qos)
        c->mqtt.text_qos = *cl.text_qos;
    if (cl.no_text_topic)
        c->mqtt.text_topic = false;
    if (cl.max_inflight)
        c->mqtt.max_inflight = *cl.max_inflight;
    if (cl.llm_url) {
        backend_config b;
        b.name = "default";
        b.url = *cl.llm_url;
        c->backends = {b};
    }
    if (c->projects.empty())
        c->projects.emplace_back();
    if (cl.model)
        c->projects.front().model = *cl.model;
    if (cl.prefix) {
        c->projects.front().prefix = *cl.prefix;
        c->projects.front().name = *cl.prefix;
    }
    if (cl.max_request_bytes) {
        for (auto& p : c->projects)
            p.request_limits.max_request_bytes = *cl.max_request_bytes;
    }
    if (cl.connect_timeout)
        c->timeouts.connect = *cl.connect_timeout;
    if (cl.first_byte_timeout)
        c->timeouts.first_byte = *cl.first_byte_timeout;
    if (cl.idle_timeout)
        c->timeouts.idle = *cl.idle_timeout;
    if (cl.total_timeout)
        c->timeouts.total = *cl.total_timeout;
    if (cl.max_in_flight)
        c->max_in_flight = *cl.max_in_flight;
    if (cl.grace)
        c->grace = *cl.grace;
    if (cl.resume_ttl_s)
        c->resume.ttl = std::chrono::seconds(*cl.resume_ttl_s);
    if (cl.resume_request_bytes)
        c->resume.request_bytes = *cl.resume_request_bytes;
    if (cl.resume_total_bytes)
        c->resume.total_bytes = *cl.resume_total_bytes;
    if (cl.log_level)
        c->log_level = *cl.log_level;
    return c;
}

}  // namespace llmb
