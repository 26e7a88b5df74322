// The daemon's configuration: parsed from YAML into an immutable value, validated completely
// (unknown keys, wrong types and out-of-range values are errors, each with file:line:column and
// the key path), with secrets taken from the file, a *_file key or an *_env key.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/tls_config.hpp"
#include "protocol/packet.hpp"
#include "protocol/request.hpp"
#include "protocol/version_fallback.hpp"

namespace llmb {

struct mqtt_config {
    std::string url = "tcp://127.0.0.1:1883";  // tcp://, mqtt://, or ssl://, mqtts:// (TLS)
    std::string client_id;                     // empty: llm-mqtt-bridge-<host>-<pid>
    // auto: MQTT 5, and 3.1.1 for a broker that refuses 5; "5" or "3.1.1": that version only.
    protocol::version_choice version = protocol::version_choice::automatic;
    int keep_alive_s = 30;  // 5..3600
    // 0: a clean start on every connect. >0: a persistent session the broker keeps this many
    // seconds after a disconnect (clean_start false + Session Expiry Interval on MQTT 5,
    // clean_session false on 3.1.1): requests queued meanwhile and unacknowledged publishes
    // survive a reconnect, a broker restart (with broker persistence) and a bridge restart with
    // the same client_id.
    std::uint32_t session_expiry_s = 0;
    std::string username;
    std::string password;                // password | password_file | password_env
    std::size_t max_packet = 268435455;  // 64..268435455
    int qos = 1;                         // 0 | 1
    bool text_topic = true;
    // QoS of the raw text: 0 by default. It is for people watching with mosquitto_sub; a
    // missed piece costs no program anything, and the broker queues nothing for a watcher
    // who has gone.
    int text_qos = 0;  // 0 | 1
    // Publishes handed to the MQTT client and not yet acknowledged, at most (the broker's
    // Receive Maximum may allow fewer). What exceeds it waits in the bridge, where a stream's
    // next text can still join its last chunk.
    std::size_t max_inflight = 100;  // 1..65535
    tls_config tls;                  // used with ssl:// and mqtts://
    // MQTT 5 Message Expiry Interval on chunk events (and raw text), seconds; 0: none.
    std::uint32_t chunk_expiry_s = 0;
    // Prefixes a v5 Response Topic must start with; empty: each project's "{prefix}/response/".
    std::vector<std::string> response_prefixes;

    bool uses_tls() const noexcept { return url.rfind("ssl://", 0) == 0; }
};

struct timeouts_config {
    std::chrono::milliseconds connect{5000};
    std::chrono::milliseconds first_byte{120000};
    std::chrono::milliseconds idle{60000};
    std::chrono::milliseconds total{600000};
};

// A backend's slots when neither the configuration nor the server's /props tells.
inline constexpr std::uint32_t default_backend_slots = 4;

struct backend_config {
    std::string name;                 // unique; default "backend<N>"
    std::string url;                  // http(s):// base URL, no trailing slash
    std::string api_key;              // api_key | api_key_file | api_key_env; never logged
    std::vector<std::string> models;  // models it serves; empty: any model
    // Requests it runs at once (llama-server -np), 1..100000. Not set: the server's GET /props
    // total_slots, read at start and with each health probe, else default_backend_slots.
    std::optional<std::uint32_t> slots;
    std::uint32_t queue = 1000;        // requests waiting for a slot before overloaded, 0..100000
    std::uint32_t context_tokens = 0;  // context size for trimming; 0: sessions.context_tokens
    std::chrono::milliseconds health_interval{10000};  // /health probe period; 0: no probe
    tls_config tls;  // for https:// URLs (verification is on by default)
};

enum class thinking_mode { server_default, on, off };

struct lora_adapter {
    int id = 0;
    double scale = 1.0;
};

struct rate_limit_config {
    double per_second = 10.0;  // requests a client may send per second on average; 0: no limit
    double burst = 20.0;       // bucket size, >= 1
};

struct project_config {
    std::string name;            // default: the prefix
    std::string prefix = "llm";  // topic prefix, protocol::valid_prefix; unique
    std::string system_prompt;   // prepended when the request has no system message
    std::string model;           // default model for requests that name none
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<std::uint32_t> max_tokens;  // default max_tokens
    std::string tools_json;                   // default tools as a compact JSON array; empty: none
    thinking_mode thinking = thinking_mode::server_default;
    std::vector<lora_adapter> lora;
    bool legacy = false;  // also serve {prefix}/user_input (the old deployment)
    protocol::request_limits request_limits;
    rate_limit_config rate;
    std::uint32_t max_concurrent_per_client = 16;  // 1..10000
};

struct sessions_config {
    std::string state_dir;                // empty: sessions live in memory only
    std::chrono::seconds ttl{86400};      // idle sessions expire
    std::size_t max_sessions = 10000;     // least recently used go first
    std::uint32_t context_tokens = 4096;  // default context size for trimming
    std::size_t max_messages = 200;       // stored messages per session at most
    // Several bridges share state_dir: a session's file is read again when another bridge
    // changed it, so whichever bridge takes the next turn sees the history.
    bool shared = false;
};

// Several bridges on one broker (cluster).
struct cluster_config {
    std::string group;      // shared-subscription group; empty: this bridge takes all requests
    std::string bridge_id;  // names this bridge in start events and status; empty: the client id
    // Survivors end the requests of a bridge that died (its will) with an error event.
    bool takeover = true;
};

struct metrics_config {
    std::chrono::seconds interval{10};  // 0: no metrics messages
    std::string topic;                  // empty: "{first prefix}/metrics"
};

// Resume (PROTOCOL.md, "Resuming"): the response events of recent requests, held in memory for a
// device that lost some while it was away.
struct resume_config {
    // How long a finished request is held after its terminal. A device whose Wi-Fi dropped is
    // back within seconds; one gone for longer than a minute can as well ask again.
    std::chrono::seconds ttl{60};  // 0..86400; 0: nothing is held after the terminal
    // Per request: a long streamed answer whole (2,000 tokens sent one chunk each are about
    // 150 KB with their envelopes); a longer one keeps its most recent 256 KiB.
    std::size_t request_bytes = 256 * 1024;  // 0..1 GiB
    // All requests together: 16 MiB bounds the memory well below what 4,096 requests in flight
    // take anyway, and holds about a minute of answers of a busy bridge (50 answers of 4 KB a
    // second, more than a 4-slot server streams). 0: resume is off (every resume is gone).
    std::size_t total_bytes = 16u << 20;  // 0..16 GiB
};

struct config {
    mqtt_config mqtt;
    std::vector<backend_config> backends;  // at least one
    timeouts_config timeouts;
    std::vector<project_config> projects;  // at least one; prefixes unique
    sessions_config sessions;
    cluster_config cluster;
    metrics_config metrics;
    resume_config resume;
    std::size_t max_in_flight = 4096;        // requests at once, all clients
    std::chrono::milliseconds grace{10000};  // on SIGTERM
    std::string log_level = "info";          // trace|debug|info|warn|error
    std::string source;                      // the file it came from ("" for defaults)
};

struct config_error {
    std::string file;
    int line = 0;      // 1-based; 0 when unknown
    int column = 0;    // 1-based; 0 when unknown
    std::string path;  // key path, e.g. "backends[1].slots"
    std::string message;
    // "file:line:column: path: message"
    std::string to_string() const;
};

// Where secrets come from, so that parsing stays free of I/O in tests.
struct config_environment {
    std::function<std::optional<std::string>(const std::string& name)> getenv;
    // Reads a whole file; nullopt with why set when it cannot.
    std::function<std::optional<std::string>(const std::string& path, std::string& why)> read_file;
    static config_environment system();  // the real environment and file system
};

struct config_result {
    std::shared_ptr<const config> cfg;  // set when there are no errors
    std::vector<config_error> errors;   // every error found, in file order
};

// Parses YAML text. Defaults fill what the text leaves out; with no "backends" or "projects" the
// defaults are one backend http://127.0.0.1:8080 and one project "llm".
config_result parse_config(std::string_view yaml, const std::string& file_name,
                           const config_environment& env);
// This bridge's name in a cluster: cluster.bridge_id, else the MQTT client id made a valid name.
std::string cluster_bridge_id(const config& c);

// Reads and parses a file (an unreadable file is one error).
config_result load_config(const std::string& path, const config_environment& env);
// The configuration with no file at all.
std::shared_ptr<const config> default_config();

}  // namespace llmb
