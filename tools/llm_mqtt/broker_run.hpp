// One run of an llm-mqtt command against the broker: the signals, the queue and the connection
// that every command sets up the same way, and the same report when the broker fails us.
#pragma once

#include <functional>
#include <string>

#include "broker_client.hpp"
#include "common_options.hpp"
#include "inbound_queue.hpp"

namespace llmb::cli {

// What a command does once connected; returns the exit code.
using broker_work = std::function<int(broker_client& client, inbound_queue& queue)>;

// Ignores SIGPIPE, turns SIGINT and SIGTERM into queue items, makes the client for opt's broker
// and MQTT version (not yet connected) and runs work. A connection_error or an MQTT error ends
// the run with a line on stderr and exit_code::usage.
int run_with_broker(const common_options& opt, const std::string& client_id,
                    const broker_work& work);

}  // namespace llmb::cli
