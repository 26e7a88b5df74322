// The real programs a test runs against: mosquitto, the mock LLM server and the bridge, each
// started on loopback ephemeral ports and ready (or failing loudly) when its constructor returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "test_client.hpp"

namespace llmb::itest {

struct broker_options {
    std::optional<std::size_t> max_packet_size;  // mosquitto's max_packet_size
    std::optional<std::uint16_t> port;           // listen here instead of on a free port
    // With tls_cert_file set, a second listener on tls_port() speaks TLS with these PEM files
    // (tls_ca_file: the CA that client certificates must chain to). The first listener stays
    // plain and anonymous, for the test clients.
    std::filesystem::path tls_cert_file;
    std::filesystem::path tls_key_file;
    std::filesystem::path tls_ca_file;
    bool tls_require_certificate = false;  // the TLS listener demands a client certificate
    // set: the TLS listener takes no anonymous clients; without a TLS listener, the plain one
    std::filesystem::path password_file;
    std::filesystem::path acl_file{};  // mosquitto's acl_file (with password_file, plain listener)
    // persistence true with its database in the test directory: sessions, subscriptions and
    // queued QoS 1 messages survive stop()/start() (SIGTERM makes mosquitto save them).
    bool persistence = false;
    std::optional<std::size_t> max_queued_messages;    // per client, offline or slow
    std::optional<std::size_t> max_inflight_messages;  // per client; also the Receive Maximum
};

class broker {
public:
    explicit broker(const test_dir& dir, broker_options opts = {});

    std::uint16_t port() const noexcept { return port_; }
    std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    std::uint16_t tls_port() const noexcept { return tls_port_; }  // 0: no TLS listener
    process& proc() { return *proc_; }

    // Stops mosquitto with SIGTERM (it saves its database) and waits for it to exit.
    void stop();
    // Kills mosquitto with SIGKILL (it saves nothing: a crash) and waits for it to exit.
    void kill();
    // Starts it again on the same port(s) with the same configuration; waits until it listens.
    void start();
    void restart() {
        stop();
        start();
    }
    int starts() const noexcept { return starts_; }

private:
    bool launch(const std::string& name);

    const test_dir& dir_;
    std::uint16_t port_ = 0;
    std::uint16_t tls_port_ = 0;
    int starts_ = 0;
    std::unique_ptr<process> proc_;
};

class mock_llm {
public:
    // name names its log files, so that several mock servers can share a test directory.
    explicit mock_llm(const test_dir& dir, std::vector<std::string> extra_args = {},
                      std::string name = "mock-llm-server");

    std::uint16_t port() const noexcept { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    process& proc() { return *proc_; }

    http_response get(std::string_view path) const { return http_get(port_, path); }
    nlohmann::json stats() const;         // GET /mock/stats
    nlohmann::json last_request() const;  // GET /mock/last_request
    nlohmann::json requests() const;      // GET /mock/requests: the last 100, oldest first
    // Polls /mock/stats until stats[key] == value; false at the deadline.
    bool wait_stat(const std::string& key, std::uint64_t value, ms timeout) const;

private:
    std::uint16_t port_ = 0;
    std::unique_ptr<process> proc_;
};

struct bridge_options {
    std::string prefix = "llm";     // the prefix whose status announces the bridge
    std::vector<std::string> args;  // further command line options
    std::filesystem::path config;   // passed as --config when not empty
    bool mqtt_flag = true;          // pass --mqtt <broker> (else the config file names it)
    std::vector<std::string> env;   // NAME=VALUE entries added to the bridge's environment
    // A bridge of a cluster (its config sets cluster.bridge_id to this): its status is on
    // {prefix}/status/{bridge_id}, and its log files are named after it.
    std::string bridge_id;
    std::string log_name;  // names the log files instead of llm-mqtt-bridge (a restarted bridge)
    // How the client that follows the bridge's status connects (e.g. with an account the
    // broker's ACL lets read the status topic).
    client_options status_client{};
    std::filesystem::path binary;  // the bridge to run; empty: the one built with the tests
    // Plain clients connected together with the status client, for the test's own clients to
    // take (see connect_spare_clients); only when the status client is plain too.
    std::size_t spare_clients = 2;
};

class bridge {
public:
    // Starts llm-mqtt-bridge --mqtt <broker> --llm <llm_url> and waits for its online status.
    // An empty llm_url passes no --llm (the backends come from the config file). --prefix is
    // passed only without a config file.
    bridge(const test_dir& dir, const broker& mqtt, const std::string& llm_url,
           bridge_options opts = {});
    ~bridge();
    bridge(const bridge&) = delete;
    bridge& operator=(const bridge&) = delete;

    process& proc() { return *proc_; }
    // A client subscribed to {prefix}/status since before the bridge started.
    test_client& status() { return *status_; }
    // Waits for a status message with this state published after the bridge started.
    bool wait_state(const std::string& state, ms timeout);
    // Waits for the online status; throws when the bridge exits or the deadline passes.
    void wait_online(ms timeout);
    // True when an offline status was seen (the will, or a clean shutdown).
    bool went_offline() const;

private:
    std::string broker_url_;
    std::string prefix_;
    std::string status_topic_;
    std::unique_ptr<test_client> status_;
    std::unique_ptr<process> proc_;
};

struct stack_options {
    broker_options broker;
    std::vector<std::string> mock_args;
    bridge_options bridge;
    bool llm_unreachable = false;  // point --llm at a port with nothing listening
};

// A temporary directory, a broker, a mock LLM server and a bridge between them. Members are
// destroyed in reverse order, so the programs stop before the directory is judged.
struct stack {
    explicit stack(stack_options opts = {});

    test_dir dir;
    broker mqtt;
    mock_llm llm;
    bridge br;
};

// A broker, a mock server and a bridge with a configuration file that holds yaml (besides the
// broker and the LLM server, which the command line names).
struct config_stack {
    explicit config_stack(const std::string& yaml);

    test_dir dir;
    broker mqtt;
    mock_llm llm;
    bridge br;

private:
    bridge_options options(const std::string& yaml);
};

// A broker, a mock server and a bridge configured by a file of mqtt and backend lines plus
// `backend_keys` (further keys of the one backend, each "    key: value\n") and `rest`
// (further top-level sections).
struct limits_stack {
    limits_stack(const std::string& backend_keys, const std::string& rest);

    test_dir dir;
    broker mqtt;
    mock_llm llm;
    bridge br;

private:
    bridge_options options(const std::string& backend_keys, const std::string& rest);
};

}  // namespace llmb::itest
