// llm-mqtt-bridge: relays prompts from MQTT to an OpenAI-compatible LLM server and streams the
// answers back.
#include <curl/curl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

#include "daemon/bridge.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/log.hpp"
#include "daemon/options.hpp"
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

}  // namespace

int main(int argc, char** argv) {
    auto parsed = llmb::parse_command_line(argc, argv);
    if (!parsed.options) {
        std::fputs(parsed.output.c_str(), parsed.exit_code == 0 ? stdout : stderr);
        return parsed.exit_code;
    }
    const llmb::bridge_options opts = std::move(*parsed.options);
    if (!llmb::protocol::valid_prefix(opts.prefix)) {
        std::fprintf(stderr,
                     "llm-mqtt-bridge: --prefix '%s' is not a valid topic prefix (levels of "
                     "[A-Za-z0-9_.-], separated by '/')\n",
                     opts.prefix.c_str());
        return 2;
    }
    llmb::init_logging(opts.log_level);
    const int sigfd = block_signals();
    if (sigfd < 0) {
        std::perror("llm-mqtt-bridge: signalfd");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 0;
    try {
        llmb::event_loop loop;
        llmb::bridge bridge(loop, opts);
        loop.watch(sigfd, EPOLLIN, [&](std::uint32_t) {
            signalfd_siginfo si{};
            while (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                if (si.ssi_signo == SIGHUP) {
                    llmb::get_logger("main")->info("SIGHUP: nothing to reload without a config "
                                                   "file");
                    continue;
                }
                if (bridge.stopping()) {
                    llmb::get_logger("main")->info("already stopping");
                    continue;
                }
                llmb::get_logger("main")->info("signal {}: stopping", si.ssi_signo);
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
