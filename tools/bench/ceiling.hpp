// The broker's ceiling with mosquitto's own clients: `mosquitto_pub -l` (libmosquitto) sends
// chunk-shaped lines to mosquitto, `mosquitto_sub` takes them. Beside the Paho publisher of the
// broker-alone measurement it shows what the client library costs.
#pragma once

#include <cstddef>

#include "env.hpp"

namespace llmb::bench {

struct mosquitto_ceiling {
    std::size_t sent = 0;
    std::size_t received = 0;
    double msgs_per_s = 0;  // at the subscriber, from its first message to its last
    double pub_cpu_us_per_msg = 0;
    double sub_cpu_us_per_msg = 0;
    double broker_cpu_us_per_msg = 0;
    bool complete = false;
};

// n messages of bytes_per_msg bytes at `qos` over one topic (MQTT 5, as the bridge speaks).
mosquitto_ceiling run_mosquitto_ceiling(bench_env& env, std::size_t n, std::size_t bytes_per_msg,
                                        int qos);

}  // namespace llmb::bench
