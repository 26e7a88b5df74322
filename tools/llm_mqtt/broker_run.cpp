#include "broker_run.hpp"

#include <csignal>
#include <cstdio>

#include "exit_codes.hpp"
#include "signal_watcher.hpp"

namespace llmb::cli {

int run_with_broker(const common_options& opt, const std::string& client_id,
                    const broker_work& work) {
    std::signal(SIGPIPE, SIG_IGN);
    inbound_queue queue;
    // Before the MQTT library starts its threads, so that they inherit the blocked signals.
    signal_watcher signals([&queue](int signo) {
        queue.push(inbound{inbound::kind::signal, nullptr, signo, {}});
    });
    try {
        broker_client client(opt.broker, client_id, opt.version, queue);
        return work(client, queue);
    } catch (const connection_error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
    } catch (const mqtt::exception& e) {
        std::fprintf(stderr, "error: %s: %s\n", opt.broker.c_str(), e.what());
    }
    return exit_code::usage;
}

}  // namespace llmb::cli
