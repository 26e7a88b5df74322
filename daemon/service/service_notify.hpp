// Telling the service manager how the daemon is doing, through its notify protocol: datagrams
// of "KEY=VALUE" lines sent to the unix socket named by $NOTIFY_SOCKET. Started without that
// variable (not under systemd, or not Type=notify), everything here does nothing.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <string>
#include <string_view>

#include "daemon/service/event_loop.hpp"
#include "daemon/service/service_status.hpp"

namespace llmb {

// What the service manager asked for, as the environment it started the daemon with says.
struct notify_environment {
    std::string socket;                     // $NOTIFY_SOCKET: a path, or "@name" (abstract)
    std::chrono::microseconds watchdog{0};  // $WATCHDOG_USEC (0: no watchdog)

    // The process environment. The watchdog is 0 when $WATCHDOG_PID names another process.
    static notify_environment system();
};

// The protocol itself: one datagram per message, never blocking (a message that does not fit
// the socket buffer is dropped).
class notify_socket {
public:
    // An empty address, one that is neither absolute nor abstract, or a socket that cannot be
    // created leaves it disabled.
    explicit notify_socket(const std::string& address);
    ~notify_socket();
    notify_socket(const notify_socket&) = delete;
    notify_socket& operator=(const notify_socket&) = delete;

    bool enabled() const noexcept { return fd_ >= 0; }
    // Sends message ("READY=1", or several lines); false when disabled or not sent.
    bool send(std::string_view message);

private:
    int fd_ = -1;
    sockaddr_un addr_{};
    socklen_t addr_len_ = 0;
};

// What the daemon tells the service manager, driven by the event loop: READY=1 the first time
// the source says it is connected and subscribed; STATUS= with the link state and request counts
// when they change (at most once a second, plus with READY and STOPPING); WATCHDOG=1 from a timer
// at half the watchdog interval, so that a loop that hangs stops feeding it; RELOADING=1 and
// READY=1 around a configuration reload; STOPPING=1 when shutdown starts.
class service_notifier {
public:
    // Uses the source (both functions set) only while notifying is enabled.
    service_notifier(event_loop& loop, status_source source, const notify_environment& env);
    ~service_notifier();
    service_notifier(const service_notifier&) = delete;
    service_notifier& operator=(const service_notifier&) = delete;

    void reloading();
    // After a reload, whether it succeeded or the configuration in use stayed.
    void reloaded();
    void stopping();

private:
    void on_ready();
    void status_tick();
    void watchdog_tick();
    service_status current() const;
    void send_with_status(std::string_view head);

    event_loop& loop_;
    status_source source_;
    notify_socket socket_;
    std::chrono::microseconds watchdog_;
    event_loop::timer_id status_timer_ = 0;
    event_loop::timer_id watchdog_timer_ = 0;
    std::string last_status_;
    bool ready_sent_ = false;
    bool stopping_ = false;
};

}  // namespace llmb
