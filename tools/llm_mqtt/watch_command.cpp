#include "watch_command.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>

#include "broker_run.hpp"
#include "exit_codes.hpp"
#include "inbound_queue.hpp"
#include "watch_view.hpp"

namespace llmb::cli {

namespace {

using clock_type = std::chrono::steady_clock;

// Splits {prefix}/response/{client}/{id} into client and id; false for any other topic.
bool split_response_topic(std::string_view topic, std::string_view prefix, std::string_view& client,
                          std::string_view& id) {
    const std::string head = std::string(prefix) + "/response/";
    if (!topic.starts_with(head)) {
        return false;
    }
    topic.remove_prefix(head.size());
    const auto slash = topic.find('/');
    if (slash == std::string_view::npos || topic.find('/', slash + 1) != std::string_view::npos) {
        return false;
    }
    client = topic.substr(0, slash);
    id = topic.substr(slash + 1);
    return !client.empty() && !id.empty();
}

int watch(const watch_options& opt, broker_client& client, inbound_queue& queue) {
    const std::string filter =
        opt.prefix + "/response/" + (opt.client ? *opt.client : std::string("+")) + "/+";
    client.connect();
    client.subscribe(filter);
    std::fprintf(stderr, "[watching %s on %s; Ctrl-C to stop]\n", filter.c_str(),
                 client.url().c_str());

    watch_view view(stdout, stderr);
    std::uint64_t ended = 0;
    const auto forever = clock_type::now() + std::chrono::hours(24 * 365);
    const auto deadline =
        opt.timeout_s ? clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                std::chrono::duration<double>(*opt.timeout_s))
                      : forever;
    for (;;) {
        auto item = queue.pop_until(deadline);
        if (!item) {
            view.close();
            if (opt.count) {
                std::fprintf(stderr, "error: %llu of %llu requests ended before the timeout\n",
                             static_cast<unsigned long long>(ended),
                             static_cast<unsigned long long>(*opt.count));
                return exit_code::protocol;
            }
            return exit_code::done;
        }
        switch (item->what) {
            case inbound::kind::signal:
                view.close();
                return item->signo == SIGINT ? exit_code::done : 128 + item->signo;
            case inbound::kind::connection_lost:
                view.close();
                std::fprintf(stderr, "error: lost the connection to the broker: %s\n",
                             item->cause.c_str());
                return exit_code::usage;
            case inbound::kind::message: {
                std::string_view who;
                std::string_view id;
                if (!split_response_topic(item->msg->get_topic(), opt.prefix, who, id)) {
                    break;
                }
                if (view.feed(who, id, item->msg->get_payload_str())) {
                    ++ended;
                    if (opt.count && ended >= *opt.count) {
                        view.close();
                        return exit_code::done;
                    }
                }
                break;
            }
        }
    }
}

}  // namespace

watch_parse_result parse_watch_options(std::span<const std::string_view> args,
                                       const std::string& default_broker) {
    watch_options opt;
    opt.broker = default_broker;
    command_syntax syntax;
    syntax.options =
        value_options(opt, {name_option("-c", "--client", opt.client),
                            positive_option("--count", opt.count), timeout_option(opt.timeout_s)});
    return parse_options(args, syntax, opt);
}

std::string_view watch_usage() noexcept {
    return R"(usage: llm-mqtt watch [options]

Shows every response stream under the prefix live, reassembled: a line when a request starts,
its text as it streams (each line labelled [client/id]; several streams take turns line by
line), and a summary line when it ends.

  -b, --broker URL       broker (default $LLM_MQTT_BROKER or tcp://127.0.0.1:1883)
      --prefix P         topic prefix (default llm)
  -c, --client ID        only this client's requests
      --count N          leave after N requests ended
      --timeout SEC      leave after SEC seconds
      --mqtt-version V   auto (default: 5, or 3.1.1 for a broker that refuses 5), 5
                         or 3.1.1
  -h, --help             this text

Exit status: 0 on Ctrl-C, after --count requests or at --timeout; 2 usage or connection
error; 3 when --timeout came before --count requests ended.
)";
}

int run_watch(const watch_options& opt, const std::string& client_id) {
    return run_with_broker(opt, client_id, std::bind_front(watch, std::cref(opt)));
}

}  // namespace llmb::cli
