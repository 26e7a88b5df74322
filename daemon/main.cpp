// llm-mqtt-bridge: relays prompts from MQTT to an OpenAI-compatible LLM server and streams the
// answers back.
#include <curl/curl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/config/options.hpp"
#include "daemon/requests/bridge.hpp"
#include "daemon/service/event_loop.hpp"
#include "daemon/service/log.hpp"
#include "daemon/service/service_notify.hpp"
#include "protocol/topics.hpp"

namespace {

// Signals are taken in one place, through a signalfd on the event loop. They are blocked
// before any thread starts so that library threads never receive them.
int block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

// The configuration from the file (or the defaults) with the command line applied; errors are
// printed one per line.
std::shared_ptr<const llmb::config> load(const llmb::command_line& cl,
                                         std::vector<std::string>& errors) {
    const auto env = llmb::config_environment::system();
    llmb::config_result r;
    if (cl.config_path) {
        r = llmb::load_config(*cl.config_path, env);
    } else {
        r.cfg = llmb::default_config();
    }
    for (const auto& e : r.errors)
        errors.push_back(e.to_string());
    if (!r.cfg)
        return nullptr;
    auto cfg = llmb::apply_overrides(*r.cfg, cl);
    for (const auto& p : cfg->projects) {
        if (!llmb::protocol::valid_prefix(p.prefix)) {
            errors.push_back("--prefix: '" + p.prefix +
                             "' is not a valid topic prefix (levels of [A-Za-z0-9_.-] "
                             "separated by '/')");
            return nullptr;
        }
    }
    return cfg;
}

}  // namespace

int main(int argc, char** argv) {
    auto parsed = llmb::parse_command_line(argc, argv);
    if (!parsed.args) {
        std::fputs(parsed.output.c_str(), parsed.exit_code == 0 ? stdout : stderr);
        return parsed.exit_code;
    }
    const llmb::command_line cl = std::move(*parsed.args);
    std::vector<std::string> errors;
    auto cfg = load(cl, errors);
    for (const auto& e : errors)
        std::fprintf(stderr, "%s\n", e.c_str());
    if (cl.check_config) {
        if (cfg) {
            std::printf("%s: configuration OK (%zu project(s), %zu backend(s))\n",
                        cl.config_path ? cl.config_path->c_str() : "defaults", cfg->projects.size(),
                        cfg->backends.size());
        }
        return cfg ? 0 : 1;
    }
    if (!cfg)
        return 1;

    llmb::init_logging(spdlog::level::from_str(cfg->log_level));
    const int sigfd = block_signals();
    if (sigfd < 0) {
        std::perror("llm-mqtt-bridge: signalfd");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 0;
    try {
        llmb::event_loop loop;
        llmb::bridge bridge(loop, cfg);
        // READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 for systemd (Type=notify); no-op
        // without $NOTIFY_SOCKET.
        llmb::status_source status{
            [&bridge] {
                return llmb::service_status{bridge.stopping(), bridge.connected(),
                                            bridge.in_flight(), bridge.served()};
            },
            [&bridge](std::function<void()> fn) { bridge.set_ready_handler(std::move(fn)); }};
        llmb::service_notifier notifier(loop, std::move(status),
                                        llmb::notify_environment::system());
        loop.watch(sigfd, EPOLLIN, [&](std::uint32_t) {
            signalfd_siginfo si{};
            while (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                if (si.ssi_signo == SIGHUP) {
                    // Parsed into a new configuration; swapped in only when it is valid.
                    notifier.reloading();
                    std::vector<std::string> reload_errors;
                    auto next = load(cl, reload_errors);
                    for (const auto& e : reload_errors) {
                        llmb::get_logger("main")->error("reload: {}", e);
                    }
                    if (!next) {
                        llmb::get_logger("main")->error(
                            "reload failed: the configuration in use stays");
                        notifier.reloaded();
                        continue;
                    }
                    llmb::init_logging(spdlog::level::from_str(next->log_level));
                    bridge.reload(std::move(next));
                    notifier.reloaded();
                    continue;
                }
                if (bridge.stopping()) {
                    llmb::get_logger("main")->info("already stopping");
                    continue;
                }
                llmb::get_logger("main")->info("signal {}: stopping", si.ssi_signo);
                notifier.stopping();
                bridge.shutdown([&loop] { loop.stop(); });
            }
        });
        bridge.start();
        loop.run();
    } catch (const std::exception& e) {
        llmb::get_logger("main")->critical("fatal: {}", e.what());
        rc = 1;
    }
    curl_global_cleanup();
    ::close(sigfd);
    return rc;
}
