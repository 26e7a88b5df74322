#include "services.hpp"

#include <unistd.h>

#include <csignal>

#include <stdexcept>
#include <utility>

namespace llmb::itest {

using namespace std::chrono_literals;

namespace {

bool is_state(const received& m, const std::string& state) {
    auto j = nlohmann::json::parse(m.payload, nullptr, false);
    return j.is_object() && j.value("state", std::string()) == state;
}

}  // namespace

broker::broker(const test_dir& dir, broker_options opts) : dir_(dir) {
    std::string last_log;
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = opts.port ? *opts.port : free_port();
        std::string conf = "listener " + std::to_string(port_) + " 127.0.0.1\n" +
                           "allow_anonymous true\n"
                           "set_tcp_nodelay true\n"
                           "log_dest file " +
                           dir.file("mosquitto.log").string() + "\n";
        if (opts.persistence) {
            conf += "persistence true\npersistence_location " + dir.path().string() +
                    "/\npersistence_file mosquitto.db\n";
        } else {
            conf += "persistence false\n";
        }
        if (opts.max_queued_messages) {
            conf += "max_queued_messages " + std::to_string(*opts.max_queued_messages) + "\n";
        }
        if (opts.max_inflight_messages) {
            conf += "max_inflight_messages " + std::to_string(*opts.max_inflight_messages) + "\n";
        }
        if (::geteuid() == 0) {
            conf += "user root\n";  // otherwise mosquitto drops to a user that cannot log here
        }
        if (opts.max_packet_size) {
            conf += "max_packet_size " + std::to_string(*opts.max_packet_size) + "\n";
        }
        if (!opts.tls_cert_file.empty()) {
            tls_port_ = free_port();
            // Per listener, so that the plain one stays anonymous.
            conf = "per_listener_settings true\n" + conf + "listener " + std::to_string(tls_port_) +
                   " 127.0.0.1\ncertfile " + opts.tls_cert_file.string() + "\nkeyfile " +
                   opts.tls_key_file.string() + "\n";
            if (!opts.tls_ca_file.empty()) {
                conf += "cafile " + opts.tls_ca_file.string() + "\n";
            }
            if (opts.tls_require_certificate) {
                conf += "require_certificate true\n";
            }
            if (!opts.password_file.empty()) {
                conf +=
                    "allow_anonymous false\npassword_file " + opts.password_file.string() + "\n";
            } else {
                conf += "allow_anonymous true\n";
            }
        }
        if (opts.tls_cert_file.empty() && !opts.password_file.empty()) {
            // Accounts on the plain listener: no anonymous clients, each reads and writes what
            // the ACL file lets it.
            conf += "allow_anonymous false\npassword_file " + opts.password_file.string() + "\n";
            if (!opts.acl_file.empty()) {
                conf += "acl_file " + opts.acl_file.string() + "\n";
            }
        }
        write_file(dir.file("mosquitto.conf"), conf);
        if (launch("mosquitto")) {
            return;
        }
        // Most likely someone took the port between free_port() and mosquitto's bind.
        last_log = read_file(dir.file("mosquitto.log")) + proc_->stderr_text();
        proc_->terminate(2s);
    }
    throw std::runtime_error("mosquitto did not come up on a free port after 5 attempts: " +
                             last_log);
}

bool broker::launch(const std::string& name) {
    ++starts_;
    proc_ = std::make_unique<process>(
        name,
        std::vector<std::string>{mosquitto_path(), "-c", dir_.file("mosquitto.conf").string()},
        dir_.path());
    auto up = [&] { return can_connect(port_) && (tls_port_ == 0 || can_connect(tls_port_)); };
    wait_until([&] { return !proc_->running() || up(); }, 10s);
    return proc_->running() && up();
}

void broker::stop() {
    drop_spare_clients(url());
    proc_->terminate(10s);
}

void broker::kill() {
    drop_spare_clients(url());
    proc_->send_signal(SIGKILL);
    if (!proc_->wait_exit(10s)) {
        throw std::runtime_error("mosquitto did not exit after SIGKILL");
    }
}

void broker::start() {
    // The old process has exited, so its port is free again (mosquitto sets SO_REUSEADDR); a
    // restart while another program grabbed the port fails loudly.
    if (!launch("mosquitto-" + std::to_string(starts_))) {
        throw std::runtime_error("mosquitto did not come up again on port " +
                                 std::to_string(port_) + ": " + proc_->stderr_text());
    }
}

// ---------------------------------------------------------------------------------------------

mock_llm::mock_llm(const test_dir& dir, std::vector<std::string> extra_args, std::string name) {
    std::vector<std::string> argv{mock_llm_path(), "--host", "127.0.0.1", "--port", "0"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    proc_ = std::make_unique<process>(std::move(name), argv, dir.path());
    const std::string marker = "listening on 127.0.0.1:";
    auto read_port = [&]() -> std::uint16_t {
        std::string out = proc_->stdout_text();
        auto at = out.find(marker);
        if (at == std::string::npos) {
            return 0;
        }
        auto eol = out.find('\n', at);
        if (eol == std::string::npos) {
            return 0;  // the line is not complete yet
        }
        return static_cast<std::uint16_t>(
            std::stoul(out.substr(at + marker.size(), eol - at - marker.size())));
    };
    wait_until([&] { return read_port() != 0 || !proc_->running(); }, 10s);
    port_ = read_port();
    if (port_ == 0) {
        throw std::runtime_error(
            "mock-llm-server printed no 'listening on 127.0.0.1:PORT' line within 10 s" +
            std::string(proc_->running() ? "" : " (it exited)"));
    }
}

nlohmann::json mock_llm::stats() const {
    auto r = get("/mock/stats");
    if (r.status != 200) {
        throw std::runtime_error("GET /mock/stats: HTTP " + std::to_string(r.status));
    }
    return nlohmann::json::parse(r.body);
}

nlohmann::json mock_llm::last_request() const {
    auto r = get("/mock/last_request");
    if (r.status != 200) {
        throw std::runtime_error("GET /mock/last_request: HTTP " + std::to_string(r.status));
    }
    return nlohmann::json::parse(r.body);
}

nlohmann::json mock_llm::requests() const {
    auto r = get("/mock/requests");
    if (r.status != 200) {
        throw std::runtime_error("GET /mock/requests: HTTP " + std::to_string(r.status));
    }
    return nlohmann::json::parse(r.body);
}

bool mock_llm::wait_stat(const std::string& key, std::uint64_t value, ms timeout) const {
    return wait_until(
        [&] {
            auto s = stats();
            return s.contains(key) && s[key].is_number_unsigned() &&
                   s[key].get<std::uint64_t>() == value;
        },
        timeout, 20ms);
}

// ---------------------------------------------------------------------------------------------

bridge::bridge(const test_dir& dir, const broker& mqtt, const std::string& llm_url,
               bridge_options opts)
    : broker_url_(mqtt.url()),
      prefix_(opts.prefix),
      status_topic_(opts.bridge_id.empty() ? prefix_ + "/status"
                                           : prefix_ + "/status/" + opts.bridge_id) {
    if (opts.status_client.plain() && opts.spare_clients > 0) {
        // One more than asked for: the status client takes the first.
        connect_spare_clients(broker_url_, opts.spare_clients + 1);
    }
    status_ = std::make_unique<test_client>(broker_url_, prefix_, opts.status_client);
    status_->subscribe(status_topic_);
    // --log-level debug (default info): the sessions and bounds suites wait for debug lines
    // ("user message counted by", "holding answers back"), and a failing test prints the tail of
    // this log. Everything else is left at the bridge's defaults unless opts.args or the config
    // file sets it; --mqtt, --llm and --prefix only say where the test's programs are.
    std::vector<std::string> argv{
        opts.binary.empty() ? std::string(bridge_path()) : opts.binary.string(), "--log-level",
        "debug"};
    if (!opts.config.empty()) {
        argv.insert(argv.end(), {"--config", opts.config.string()});
    }
    if (opts.mqtt_flag) {
        argv.insert(argv.end(), {"--mqtt", mqtt.url()});
    }
    if (!llm_url.empty()) {
        argv.insert(argv.end(), {"--llm", llm_url});
    }
    if (prefix_ != "llm" && opts.config.empty()) {
        argv.insert(argv.end(), {"--prefix", prefix_});
    }
    argv.insert(argv.end(), opts.args.begin(), opts.args.end());
    proc_ =
        std::make_unique<process>(!opts.log_name.empty()   ? opts.log_name
                                  : opts.bridge_id.empty() ? "llm-mqtt-bridge"
                                                           : "llm-mqtt-bridge-" + opts.bridge_id,
                                  argv, dir.path(), opts.env);
    wait_online(15s);
}

bridge::~bridge() {
    drop_spare_clients(broker_url_);
}

void bridge::wait_online(ms timeout) {
    auto deadline = clock_type::now() + timeout;
    while (clock_type::now() < deadline) {
        if (wait_state("online", 200ms)) {
            return;
        }
        if (!proc_->running()) {
            throw std::runtime_error("llm-mqtt-bridge exited with status " +
                                     std::to_string(proc_->wait_exit(0ms).value_or(-1)) +
                                     " before publishing its online status");
        }
    }
    throw std::runtime_error("llm-mqtt-bridge published no {\"state\":\"online\"} on " +
                             status_topic_ + " within " + std::to_string(timeout.count()) + " ms");
}

bool bridge::wait_state(const std::string& state, ms timeout) {
    return status_
        ->wait_for(
            status_topic_, [&](const received& m) { return !m.retained && is_state(m, state); },
            timeout)
        .has_value();
}

bool bridge::went_offline() const {
    for (const auto& m : status_->inbox()) {
        if (!m.retained && is_state(m, "offline")) {
            return true;
        }
    }
    return false;
}

// ---------------------------------------------------------------------------------------------

namespace {

std::string llm_url_for(const stack_options& opts, const mock_llm& llm) {
    if (opts.llm_unreachable) {
        return "http://127.0.0.1:" + std::to_string(free_port());
    }
    return llm.url();
}

}  // namespace

stack::stack(stack_options opts)
    : dir(),
      mqtt(dir, opts.broker),
      llm(dir, opts.mock_args),
      br(dir, mqtt, llm_url_for(opts, llm), opts.bridge) {}

config_stack::config_stack(const std::string& yaml)
    : mqtt(dir), llm(dir), br(dir, mqtt, llm.url(), options(yaml)) {}

bridge_options config_stack::options(const std::string& yaml) {
    const auto path = dir.file("bridge.yaml");
    write_file(path, yaml);
    bridge_options o;
    o.config = path;
    return o;
}

limits_stack::limits_stack(const std::string& backend_keys, const std::string& rest)
    : mqtt(dir), llm(dir), br(dir, mqtt, "", options(backend_keys, rest)) {}

bridge_options limits_stack::options(const std::string& backend_keys, const std::string& rest) {
    // Only where the broker and the backend are: each value a test adds in backend_keys or rest
    // carries its reason at the test.
    bridge_options o;
    o.config = dir.file("bridge.yaml");
    write_file(o.config, "mqtt:\n  url: " + mqtt.url() + "\nbackends:\n  - url: " + llm.url() +
                             "\n" + backend_keys + rest);
    return o;
}

}  // namespace llmb::itest
