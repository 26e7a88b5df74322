// Paho C's trace kept to errors (daemon/mqtt/paho_convert.hpp).
#include <doctest/doctest.h>

#include <MQTTAsync.h>

#include <cstdlib>

#include <mqtt/async_client.h>

#include "daemon/mqtt/paho_convert.hpp"

namespace {

int traced_below_error = 0;

void count_trace(enum MQTTASYNC_TRACE_LEVELS level, char*) {
    if (level < MQTTASYNC_TRACE_ERROR)
        ++traced_below_error;
}

// Lines below errors that a second client traces while the first one keeps the library
// initialised (initialising it writes a banner whatever the level).
int trace_of_a_client(const mqtt::async_client& first) {
    traced_below_error = 0;
    (void)first.is_connected();
    { mqtt::async_client probe("tcp://127.0.0.1:1", "trace-probe", 10, nullptr); }
    return traced_below_error;
}

}  // namespace

TEST_CASE("keep_paho_trace_to_errors: the client library traces nothing below errors") {
    if (std::getenv("MQTT_C_CLIENT_TRACE") != nullptr)
        return;  // the library's own trace was asked for, and is left alone
    MQTTAsync_setTraceCallback(count_trace);
    const mqtt::async_client first("tcp://127.0.0.1:1", "trace-first", 10, nullptr);
    // The library's default level: every function entry and exit is traced.
    MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_MINIMUM);
    CHECK(trace_of_a_client(first) > 0);
    llmb::keep_paho_trace_to_errors();
    CHECK(trace_of_a_client(first) == 0);
    MQTTAsync_setTraceCallback(nullptr);
}
