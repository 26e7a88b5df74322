// What the daemon tells the service manager about itself (service_notify.hpp sends it), and
// where that comes from: a status source that the owner of the requests supplies, so that the
// notifier needs nothing else of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace llmb {

// The numbers of one status line.
struct service_status {
    bool stopping = false;      // shutdown has started
    bool connected = false;     // the MQTT link is connected and subscribed
    std::size_t in_flight = 0;  // requests being answered
    std::uint64_t served = 0;   // requests ended since the start
};

// What the notifier asks of the daemon (the bridge, in main.cpp). Both are called on the loop.
struct status_source {
    // The status now.
    std::function<service_status()> status;
    // Installs the function to call each time the daemon is connected and subscribed (again
    // after a reconnect); nullptr removes it.
    std::function<void(std::function<void()>)> set_ready_handler;
};

// The text of a STATUS= line: "connected, 2 in flight, 17 served", with "stopping" or
// "connecting to the broker" in place of "connected". Pure.
std::string status_text(const service_status& s);

// A notify message: head ("READY=1", "STOPPING=1") and a STATUS= line. Pure.
std::string with_status(std::string_view head, const service_status& s);

}  // namespace llmb
