// TLS and authentication: the bridge reaches a broker over TLS with a password or a client
// certificate, refuses a broker whose certificate it cannot verify or that names another host
// (and says why in its log), reaches an https backend only with the right CA, and writes no
// secret into any log line, status or event.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <sstream>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view mqtt_user = "bridge";
constexpr std::string_view mqtt_password = "pw-Secret-91c2e";
constexpr std::string_view key_password = "kp-Secret-7f3a0";

// Certificates made for one test: two unrelated CAs, server certificates for 127.0.0.1 and for
// another host name, a client certificate with an encrypted key, and a mosquitto password file.
struct pki {
    explicit pki(const test_dir& d) : dir(d) {
        write_file(dir.file("openssl.cnf"),
                   "[req]\n"
                   "distinguished_name = dn\n"
                   "prompt = no\n"
                   "[dn]\n"
                   "CN = unused\n"
                   "[ca]\n"
                   "basicConstraints = critical,CA:TRUE\n"
                   "keyUsage = critical,keyCertSign,cRLSign\n"
                   "subjectKeyIdentifier = hash\n"
                   "[leaf]\n"
                   "basicConstraints = critical,CA:FALSE\n"
                   "keyUsage = critical,digitalSignature\n"
                   "extendedKeyUsage = serverAuth,clientAuth\n");
        make_ca("ca");
        make_ca("other-ca");
        make_leaf("server", "ca", "IP:127.0.0.1,DNS:localhost", "");
        make_leaf("wrong-host", "ca", "DNS:elsewhere.example", "");
        make_leaf("client", "ca", "DNS:bridge.example", key_password);
        run_tool(dir, "mosquitto_passwd",
                 {"mosquitto_passwd", "-b", "-c", file("passwd"), std::string(mqtt_user),
                  std::string(mqtt_password)});
    }

    std::string file(std::string_view name) const { return dir.file(name).string(); }
    std::string pem(std::string_view name) const { return file(std::string(name) + ".pem"); }
    std::string key(std::string_view name) const { return file(std::string(name) + ".key"); }

    // A broker whose TLS listener presents the certificate `server` (signed by "ca").
    broker_options broker(const std::string& server = "server") const {
        broker_options o;
        o.tls_cert_file = pem(server);
        o.tls_key_file = key(server);
        o.tls_ca_file = pem("ca");
        o.password_file = file("passwd");
        return o;
    }

    const test_dir& dir;

private:
    std::vector<std::string> new_cert(const std::string& name, const std::string& section) const {
        return {"openssl",
                "req",
                "-x509",
                "-config",
                file("openssl.cnf"),
                "-extensions",
                section,
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-keyout",
                key(name),
                "-out",
                pem(name),
                "-subj",
                "/CN=" + name,
                "-days",
                "2"};
    }
    void make_ca(const std::string& name) const {
        auto argv = new_cert(name, "ca");
        argv.push_back("-nodes");
        run_tool(dir, "openssl-" + name, argv);
    }
    void make_leaf(const std::string& name, const std::string& ca, const std::string& san,
                   std::string_view passphrase) const {
        auto argv = new_cert(name, "leaf");
        argv.insert(argv.end(),
                    {"-CA", pem(ca), "-CAkey", key(ca), "-addext", "subjectAltName=" + san});
        if (passphrase.empty()) {
            argv.push_back("-nodes");
        } else {
            argv.insert(argv.end(), {"-passout", "pass:" + std::string(passphrase)});
        }
        run_tool(dir, "openssl-" + name, argv);
    }
};

// What goes under mqtt: besides the URL.
struct mqtt_yaml {
    std::string password = std::string(mqtt_password);
    std::string tls;  // lines under tls:, each indented by four spaces
};

// A configuration: the broker's TLS listener, one backend, the project "llm".
std::string config_yaml(const broker& b, const std::string& llm_url, const mqtt_yaml& m,
                        const std::string& backend_extra = "") {
    return "mqtt:\n"
           "  url: mqtts://127.0.0.1:" +
           std::to_string(b.tls_port()) +
           "\n"
           "  username: " +
           std::string(mqtt_user) +
           "\n"
           "  password: \"" +
           m.password +
           "\"\n"
           "  tls:\n" +
           m.tls +
           "backends:\n"
           "  - name: mock\n"
           "    url: " +
           llm_url + "\n" + backend_extra + "projects:\n  - prefix: llm\n";
}

bridge_options with_config(const std::filesystem::path& file) {
    bridge_options o;
    o.config = file;
    o.mqtt_flag = false;
    return o;
}

// A bridge that is expected not to get online: started without waiting for its status.
std::unique_ptr<process> start_refused(const test_dir& dir, const std::filesystem::path& config,
                                       const std::string& name) {
    return std::make_unique<process>(
        name, std::vector<std::string>{bridge_path(), "--config", config.string()}, dir.path());
}

// The bridge keeps retrying: the refusal line appears twice, the bridge runs, and no online
// status ever came. Returns the first refusal line.
std::string check_refused(process& br, test_client& status, std::string_view needle) {
    REQUIRE_MESSAGE(br.wait_stderr(needle, 15s), "no line with '" << needle << "' in:\n"
                                                                  << br.stderr_text());
    const auto err = br.stderr_text();
    const auto first = err.find(needle);
    REQUIRE_MESSAGE(br.wait_stderr(needle, 15s, first + needle.size()),
                    "the bridge did not try again:\n"
                        << br.stderr_text());
    CHECK(br.running());
    status.drain();
    for (const auto& m : status.inbox()) {
        CHECK_MESSAGE(m.payload.find("\"online\"") == std::string::npos,
                      "online status despite the refusal: " << m.payload);
    }
    const auto bol = err.rfind('\n', first);
    const auto eol = err.find('\n', first);
    return err.substr(bol == std::string::npos ? 0 : bol + 1, eol - (bol + 1));
}

// A directory, certificates, a broker with a TLS listener and a mock LLM server.
struct tls_fixture {
    explicit tls_fixture(std::string server_cert = "server", bool require_certificate = false)
        : certs(dir), mqtt(dir, options(certs, server_cert, require_certificate)), llm(dir) {}

    static broker_options options(const pki& p, const std::string& server, bool require) {
        auto o = p.broker(server);
        o.tls_require_certificate = require;
        return o;
    }
    std::filesystem::path write_config(const std::string& name, const mqtt_yaml& m) const {
        const auto path = dir.file(name);
        write_file(path, config_yaml(mqtt, llm.url(), m));
        return path;
    }
    std::string ca_line(std::string_view ca) const {
        return "    ca_file: " + certs.pem(ca) + "\n";
    }

    test_dir dir;
    pki certs;
    broker mqtt;
    mock_llm llm;
};

// Starts a bridge with config while a client watches llm/status, and checks that the broker
// refuses it (check_refused). Returns the first refusal line.
std::string refusal_of(const tls_fixture& f, const std::filesystem::path& config,
                       std::string_view needle, const std::string& name = "llm-mqtt-bridge") {
    test_client status(f.mqtt.url());
    status.subscribe("llm/status");
    auto br = start_refused(f.dir, config, name);
    auto line = check_refused(*br, status, needle);
    br->terminate();
    return line;
}

// openssl s_server on a loopback port with a certificate of the test CA; it answers whatever
// it gets with the reversed lines (no HTTP), and stops by itself after a few connections.
class tls_echo_server {
public:
    tls_echo_server(const test_dir& dir, const pki& certs) {
        port_ = free_port();
        proc_ = std::make_unique<process>(
            "s_server",
            std::vector<std::string>{program_path("openssl"), "s_server", "-accept",
                                     "127.0.0.1:" + std::to_string(port_), "-cert",
                                     certs.pem("server"), "-key", certs.key("server"), "-naccept",
                                     "8", "-rev"},
            dir.path());
        REQUIRE_MESSAGE(
            wait_until([&] { return proc_->stdout_text().find("ACCEPT") != std::string::npos; },
                       10s),
            "openssl s_server did not start: " << proc_->stderr_text());
    }
    ~tls_echo_server() { proc_->terminate(2s); }
    tls_echo_server(const tls_echo_server&) = delete;
    tls_echo_server& operator=(const tls_echo_server&) = delete;

    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

private:
    std::uint16_t port_ = 0;
    std::unique_ptr<process> proc_;
};

// Every line of text that contains needle.
std::vector<std::string> lines_with(const std::string& text, std::string_view needle) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.find(needle) != std::string::npos) {
            out.push_back(line);
        }
    }
    return out;
}

}  // namespace

TEST_SUITE("security") {
    TEST_CASE("the bridge connects over TLS with the right CA and password and serves requests") {
        tls_fixture f;
        mqtt_yaml m;
        m.tls = f.ca_line("ca");
        bridge br(f.dir, f.mqtt, "", with_config(f.write_config("bridge.yaml", m)));
        CHECK(br.proc().stderr_text().find("connected to ssl://127.0.0.1:" +
                                           std::to_string(f.mqtt.tls_port())) != std::string::npos);
        test_client c(f.mqtt.url());
        check_serving(c, "dev1", "tls-1");
    }

    TEST_CASE("a broker certificate from another CA is refused, and the log names the problem") {
        tls_fixture f;
        mqtt_yaml m;
        m.tls = f.ca_line("other-ca");
        const auto line = refusal_of(f, f.write_config("bridge.yaml", m),
                                     "TLS: the broker's certificate could not be verified");
        CHECK(line.find("cannot connect to ssl://127.0.0.1:") != std::string::npos);
        CHECK(line.find("SSL certificate problem") != std::string::npos);
    }

    TEST_CASE("a wrong password is refused with the broker's reason in words") {
        tls_fixture f;
        mqtt_yaml m;
        m.password = "not-the-password";
        m.tls = f.ca_line("ca");
        refusal_of(f, f.write_config("bridge.yaml", m),
                   "the broker refused the connection: not authorized");
    }

    TEST_CASE("a wrong password is refused over MQTT 3.1.1 too") {
        tls_fixture f;
        mqtt_yaml m;
        m.password = "not-the-password";
        m.tls = f.ca_line("ca");
        const auto path = f.dir.file("bridge.yaml");
        auto yaml = config_yaml(f.mqtt, f.llm.url(), m);
        yaml.insert(yaml.find("  username:"), "  version: \"3.1.1\"\n");
        write_file(path, yaml);
        refusal_of(f, path, "the broker refused the connection: not authorized");
    }

    TEST_CASE("a broker certificate for another host name is refused") {
        tls_fixture f("wrong-host");
        mqtt_yaml m;
        m.tls = f.ca_line("ca");
        const auto line = refusal_of(f, f.write_config("bridge.yaml", m),
                                     "TLS: the broker's certificate could not be verified");
        CHECK(line.find("target host name '127.0.0.1'") != std::string::npos);
    }

    TEST_CASE("insecure connects despite an unknown CA and says so in a warning") {
        tls_fixture f;
        mqtt_yaml m;
        m.tls = f.ca_line("other-ca") + "    insecure: true\n";
        bridge br(f.dir, f.mqtt, "", with_config(f.write_config("bridge.yaml", m)));
        CHECK(br.proc().stderr_text().find("mqtt.tls.insecure is set") != std::string::npos);
        test_client c(f.mqtt.url());
        check_serving(c, "dev1", "insecure-1");
    }

    TEST_CASE("a broker that requires a client certificate takes the configured one") {
        tls_fixture f("server", true);
        mqtt_yaml without;
        without.tls = f.ca_line("ca");
        const auto line = refusal_of(f, f.write_config("no-cert.yaml", without),
                                     "cannot connect to ssl://", "bridge-no-cert");
        CHECK(line.find("client certificate") != std::string::npos);
        mqtt_yaml m;
        m.tls = f.ca_line("ca") + "    cert_file: " + f.certs.pem("client") +
                "\n    key_file: " + f.certs.key("client") + "\n    key_password: \"" +
                std::string(key_password) + "\"\n";
        bridge br(f.dir, f.mqtt, "", with_config(f.write_config("bridge.yaml", m)));
        test_client c(f.mqtt.url());
        check_serving(c, "dev1", "cert-1");
    }

    TEST_CASE("an https backend is reached with its CA; with another CA the request says why") {
        test_dir dir;
        pki certs(dir);
        broker mqtt(dir);
        tls_echo_server upstream(dir, certs);
        const auto path = dir.file("bridge.yaml");
        // health_interval_ms: 0 (default 10000): probes would use up the 8 connections the
        // s_server takes (-naccept 8) and could mark a backend down before the request tries it.
        write_file(path, "mqtt:\n  url: " + mqtt.url() +
                             "\n"
                             "backends:\n"
                             "  - name: right-ca\n"
                             "    url: " +
                             upstream.url() +
                             "\n"
                             "    models: [right]\n"
                             "    health_interval_ms: 0\n"
                             "    tls:\n"
                             "      ca_file: " +
                             certs.pem("ca") +
                             "\n"
                             "  - name: wrong-ca\n"
                             "    url: " +
                             upstream.url() +
                             "\n"
                             "    models: [wrong]\n"
                             "    health_interval_ms: 0\n"
                             "    tls:\n"
                             "      ca_file: " +
                             certs.pem("other-ca") + "\n");
        bridge br(dir, mqtt, "", with_config(path));
        test_client c(mqtt.url());
        c.subscribe_client("dev1");

        auto wrong = echo_request("wrong-1", "hello");
        wrong["model"] = "wrong";
        c.publish_request("dev1", wrong);
        auto ws = c.collect("dev1", "wrong-1", 15s);
        check_error(ws, "upstream_unavailable");
        const auto wrong_message = ws.last().value("message", std::string());
        CHECK_MESSAGE(wrong_message.find("the LLM server's certificate could not be verified") !=
                          std::string::npos,
                      wrong_message);

        // The handshake passes: what follows is no HTTP, so the request fails in another way.
        auto right = echo_request("right-1", "hello");
        right["model"] = "right";
        c.publish_request("dev1", right);
        auto rs = c.collect("dev1", "right-1", 15s);
        check_well_formed(rs);
        REQUIRE(rs.last().value("type", std::string()) == "error");
        const auto right_message = rs.last().value("message", std::string());
        CHECK_MESSAGE(rs.last().value("code", std::string()) != "upstream_unavailable",
                      right_message);
        CHECK_MESSAGE(right_message.find("certificate") == std::string::npos, right_message);
    }

    TEST_CASE("no secret reaches a log line, a status or an event") {
        const std::string api_key = "ak-Secret-5d10c";
        const std::string wrong_api_key = "ak-Secret-wrong-77e1";
        const std::vector<std::string> secrets{std::string(mqtt_password),
                                               std::string(key_password), api_key, wrong_api_key};
        test_dir dir;
        pki certs(dir);
        broker mqtt(dir, certs.broker());
        mock_llm good(dir, {"--api-key", api_key}, "mock-good");
        mock_llm bad(dir, {"--api-key", "the-key-the-bridge-does-not-have"}, "mock-bad");
        test_client watcher(mqtt.url());
        watcher.subscribe("#");

        write_file(dir.file("api-key"), api_key + "\n");
        // slots: the default 4, written out so that a reload can break it ("many").
        const auto yaml = [&](const std::string& slots, const std::string& prompt) {
            return "mqtt:\n"
                   "  url: mqtts://127.0.0.1:" +
                   std::to_string(mqtt.tls_port()) + "\n  username: " + std::string(mqtt_user) +
                   "\n  password: \"" + std::string(mqtt_password) +
                   "\"\n"
                   "  tls:\n"
                   "    ca_file: " +
                   certs.pem("ca") + "\n    cert_file: " + certs.pem("client") +
                   "\n    key_file: " + certs.key("client") + "\n    key_password: \"" +
                   std::string(key_password) +
                   "\"\n"
                   "backends:\n"
                   "  - name: good\n"
                   "    url: " +
                   good.url() + "\n    api_key_file: " + dir.file("api-key").string() +
                   "\n    slots: " + slots +
                   "\n    models: [good]\n"
                   "  - name: bad\n"
                   "    url: " +
                   bad.url() +
                   "\n    api_key_env: LLMB_TEST_API_KEY\n"
                   "    models: [bad]\n"
                   "projects:\n"
                   "  - prefix: llm\n"
                   "    system_prompt: \"" +
                   prompt + "\"\n";
        };
        const auto path = dir.file("bridge.yaml");
        write_file(path, yaml("4", "first"));
        auto opts = with_config(path);
        opts.env = {"LLMB_TEST_API_KEY=" + wrong_api_key};
        bridge br(dir, mqtt, "", opts);
        test_client c(mqtt.url());
        c.subscribe_client("dev1");

        auto ask = [&](const std::string& id, const std::string& model) {
            auto r = echo_request(id, "tell no secrets");
            r["model"] = model;
            c.publish_request("dev1", r);
            return c.collect("dev1", id, 15s);
        };
        check_done(ask("ok-1", "good"), "tell no secrets");
        auto refused = ask("401-1", "bad");
        check_error(refused, "upstream_error");
        CHECK(refused.last().value("message", std::string()).find("401") != std::string::npos);

        auto from = br.proc().stderr_size();
        write_file(path, yaml("4", "second"));
        br.proc().send_signal(SIGHUP);
        REQUIRE(br.proc().wait_stderr("configuration reloaded", 10s, from));
        from = br.proc().stderr_size();
        write_file(path, yaml("many", "third"));
        br.proc().send_signal(SIGHUP);
        REQUIRE(br.proc().wait_stderr("reload failed", 10s, from));
        check_done(ask("ok-2", "good"), "tell no secrets");
        check_error(ask("401-2", "bad"), "upstream_error");

        // --check-config on the broken file, with the secret from the environment as well.
        process check("check-config", {bridge_path(), "--check-config", "--config", path.string()},
                      dir.path(), {"LLMB_TEST_API_KEY=" + wrong_api_key});
        REQUIRE(check.wait_exit(10s) != 0);
        const auto check_output = check.stdout_text() + check.stderr_text();
        CHECK_MESSAGE(!lines_with(check_output, "slots").empty(), check_output);

        REQUIRE(br.proc().terminate() == 0);
        REQUIRE(br.wait_state("offline", 5s));
        watcher.drain();
        const auto logs = br.proc().stderr_text() + br.proc().stdout_text();
        CHECK(watcher.inbox().size() > 10);
        for (const auto& secret : secrets) {
            INFO("secret: " << secret);
            for (const auto& line : lines_with(logs, secret)) {
                FAIL_CHECK("a log line holds a secret: " << line);
            }
            for (const auto& line : lines_with(check_output, secret)) {
                FAIL_CHECK("--check-config printed a secret: " << line);
            }
            for (const auto& m : watcher.inbox()) {
                CHECK_MESSAGE(m.payload.find(secret) == std::string::npos,
                              m.topic << ": " << m.payload);
                CHECK(m.topic.find(secret) == std::string::npos);
            }
        }
    }
}

}  // namespace llmb::itest
