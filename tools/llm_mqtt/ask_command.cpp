#include "ask_command.hpp"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <mqtt/async_client.h>

#include "broker_run.hpp"
#include "event_printer.hpp"
#include "inbound_queue.hpp"
#include "protocol/packet.hpp"
#include "protocol/response_assembler.hpp"
#include "protocol/topics.hpp"
#include "request_body.hpp"

namespace llmb::cli {

namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::string read_question(const ask_options& opt) {
    std::string q = opt.question;
    if (q == "-") {
        q.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        while (!q.empty() && (q.back() == '\n' || q.back() == '\r')) {
            q.pop_back();
        }
    }
    if (q.empty()) {
        throw usage_error("the question is empty");
    }
    return q;
}

// A string field of an event, empty when absent or not a string.
std::string text_field(const json& ev, const char* key) {
    auto it = ev.find(key);
    return it != ev.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// One run of the command: the connection, the request's topics and the answer's state.
class ask_run {
public:
    ask_run(const ask_options& opt, broker_client& client, inbound_queue& queue)
        : opt_(opt),
          queue_(queue),
          response_topic_(protocol::response_topic(opt.prefix, opt.client, opt.id)),
          client_(client),
          printer_(stdout, stderr,
                   printer_options{opt.json_output, opt.quiet, opt.verbose,
                                   isatty(STDOUT_FILENO) == 1, isatty(STDERR_FILENO) == 1}) {}

    void start(const std::string& request) {
        client_.connect();
        client_.subscribe(response_topic_);
        const std::string topic = opt_.prefix + "/request/" + opt_.client;
        await(client_.publish(topic, request), "cannot publish the request on " + topic);
    }

    int wait_for_answer() {
        const auto idle = std::chrono::duration_cast<clock_type::duration>(
            std::chrono::duration<double>(opt_.timeout_s));
        auto deadline = clock_type::now() + idle;
        for (;;) {
            auto item = queue_.pop_until(deadline);
            if (!item) {
                return timed_out();
            }
            switch (item->what) {
                case inbound::kind::signal:
                    if (auto code = on_signal(item->signo)) {
                        return *code;
                    }
                    break;
                case inbound::kind::connection_lost:
                    printer_.note("error: lost the connection to the broker: " + item->cause);
                    return exit_code::usage;
                case inbound::kind::message:
                    deadline = clock_type::now() + idle;
                    if (on_message(*item->msg)) {
                        return finished();
                    }
                    break;
            }
        }
    }

private:
    // Ctrl-C once: ask the bridge to cancel and wait for its done. Again, or SIGTERM: leave.
    std::optional<int> on_signal(int signo) {
        if (signo == SIGINT && !cancel_sent_) {
            send_cancel();
            if (!opt_.quiet) {
                printer_.note("[cancelling " + opt_.id + "; Ctrl-C again to quit at once]");
            }
            return std::nullopt;
        }
        if (!cancel_sent_) {
            send_cancel();
        }
        printer_.finish_text();
        return signo == SIGINT ? exit_code::cancelled : 128 + signo;
    }

    void send_cancel() {
        cancel_sent_ = true;
        const json cancel = {{"id", opt_.id}};
        try {
            client_.publish(opt_.prefix + "/cancel/" + opt_.client, cancel.dump());
        } catch (const mqtt::exception& e) {
            printer_.note(std::string("error: cannot publish the cancel: ") + e.what());
        }
    }

    // Feeds one message to the assembler and prints what it completes. True at the terminal.
    bool on_message(const mqtt::message& msg) {
        if (msg.get_topic() != response_topic_) {
            return false;
        }
        const std::string& payload = msg.get_payload_str();
        if (opt_.max_packet) {
            const std::size_t size = protocol::publish_packet_size(
                msg.get_topic().size(), payload.size(), 0, msg.get_qos(), client_.version());
            if (size > *opt_.max_packet) {
                oversized_.push_back("a PUBLISH of " + std::to_string(size) +
                                     " bytes exceeds --max-packet " +
                                     std::to_string(*opt_.max_packet));
            }
        }
        std::vector<json> events;
        assembler_.feed(payload, events);
        for (const auto& ev : events) {
            printer_.print(ev);
        }
        if (assembler_.finished() && !events.empty()) {
            terminal_ = events.back();  // nothing is delivered after the terminal event
        }
        const auto& found = assembler_.violations();
        for (; violations_shown_ < found.size(); ++violations_shown_) {
            report_violation(found[violations_shown_]);
        }
        return assembler_.finished();
    }

    void report_violation(const std::string& what) {
        ++violations_;
        printer_.note("protocol violation: " + what);
    }

    // Oversized packets count against the bridge unless it refused the request (and with it
    // the max_packet it could not honour) with bad_request.
    void judge_packet_sizes() {
        const bool refused = text_field(terminal_, "type") == "error" &&
                             text_field(terminal_, "code") == "bad_request";
        for (const auto& what : oversized_) {
            if (refused) {
                if (opt_.verbose) {
                    printer_.note("[" + what + ", in the refusal of the request]");
                }
            } else {
                report_violation(what);
            }
        }
        oversized_.clear();
    }

    int finished() {
        printer_.finish_text();
        judge_packet_sizes();
        if (opt_.verbose && assembler_.duplicates() > 0) {
            printer_.note("[" + std::to_string(assembler_.duplicates()) +
                          " duplicate messages dropped]");
        }
        if (violations_ > 0) {
            printer_.note("error: the response broke the protocol (" + std::to_string(violations_) +
                          " violations)");
            return exit_code::protocol;
        }
        const std::string type = text_field(terminal_, "type");
        if (type == "error") {
            return exit_code::error_event;
        }
        if (type == "done" && text_field(terminal_, "finish_reason") == "cancelled") {
            return exit_code::cancelled;
        }
        return exit_code::done;
    }

    int timed_out() {
        judge_packet_sizes();
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", opt_.timeout_s);
        std::string line = "error: no event for " + std::string(seconds) + " s";
        if (const auto missing = assembler_.missing(); missing > 0) {
            line += " (" + std::to_string(missing) + " messages of the stream never arrived)";
        }
        printer_.note(line);
        return exit_code::protocol;
    }

    const ask_options& opt_;
    inbound_queue& queue_;
    std::string response_topic_;
    broker_client& client_;
    event_printer printer_;
    protocol::response_assembler assembler_;
    json terminal_ = json::object();
    std::vector<std::string> oversized_;  // packets larger than --max-packet
    std::size_t violations_shown_ = 0;
    std::size_t violations_ = 0;
    bool cancel_sent_ = false;
};

}  // namespace

int run_ask(const ask_options& opt) {
    std::string request;
    try {
        const std::string question = read_question(opt);
        std::optional<json> tools;
        if (opt.tools_file) {
            tools = read_tools_file(*opt.tools_file);
        }
        request = build_request(opt, question, tools);
    } catch (const std::runtime_error& e) {
        std::fprintf(stderr, "llm-mqtt ask: %s\n", e.what());
        return exit_code::usage;
    }

    return run_with_broker(opt, opt.client + "." + opt.id,
                           [&opt, &request](broker_client& client, inbound_queue& queue) {
                               ask_run run(opt, client, queue);
                               run.start(request);
                               return run.wait_for_answer();
                           });
}

}  // namespace llmb::cli
