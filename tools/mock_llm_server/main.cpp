// mock-llm-server: an OpenAI-compatible stand-in for llama-server (see --help).
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>

#include "options.hpp"
#include "server.hpp"

namespace {

// Thousands of concurrent connections need more descriptors than the usual soft limit.
void raise_descriptor_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

// SIGTERM and SIGINT are taken from a signalfd by the event loop; nothing runs in a handler.
int stop_signal_fd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
        return -1;
    }
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

}  // namespace

int main(int argc, char** argv) {
    const llmb::mock::parsed_options parsed = llmb::mock::parse_options(argc, argv);
    if (!parsed.options) {
        return parsed.exit_code;
    }
    std::signal(SIGPIPE, SIG_IGN);
    raise_descriptor_limit();
    const int stop_fd = stop_signal_fd();
    if (stop_fd < 0) {
        std::perror("mock-llm-server: signalfd");
        return 1;
    }
    try {
        llmb::mock::server srv(*parsed.options);
        std::printf("listening on %s\n", srv.local_address().c_str());
        std::fflush(stdout);
        srv.run(stop_fd);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mock-llm-server: %s\n", e.what());
        close(stop_fd);
        return 1;
    }
    close(stop_fd);
    return 0;
}
