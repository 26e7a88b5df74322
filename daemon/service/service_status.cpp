// The status line for the service manager (see service_status.hpp).
#include "daemon/service/service_status.hpp"

namespace llmb {

std::string status_text(const service_status& s) {
    std::string text = s.stopping    ? "stopping"
                       : s.connected ? "connected"
                                     : "connecting to the broker";
    text +=
        ", " + std::to_string(s.in_flight) + " in flight, " + std::to_string(s.served) + " served";
    return text;
}

std::string with_status(std::string_view head, const service_status& s) {
    std::string msg(head);
    msg += "\nSTATUS=" + status_text(s);
    return msg;
}

}  // namespace llmb
