#include "daemon/service/service_notify.hpp"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "daemon/service/log.hpp"

namespace llmb {

namespace {

constexpr std::chrono::milliseconds status_period{1000};

std::optional<std::uint64_t> parse_unsigned(const char* s) {
    if (s == nullptr || *s == '\0')
        return std::nullopt;
    const char* end = s + std::strlen(s);
    std::uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(s, end, v);
    if (ec != std::errc() || ptr != end)
        return std::nullopt;
    return v;
}

std::uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

notify_environment notify_environment::system() {
    notify_environment env;
    if (const char* s = std::getenv("NOTIFY_SOCKET"))
        env.socket = s;
    const auto usec = parse_unsigned(std::getenv("WATCHDOG_USEC"));
    if (!usec || *usec == 0)
        return env;
    if (const char* pid = std::getenv("WATCHDOG_PID")) {
        const auto p = parse_unsigned(pid);
        if (!p || *p != static_cast<std::uint64_t>(getpid()))
            return env;  // the watchdog is meant for another process
    }
    env.watchdog = std::chrono::microseconds(static_cast<std::int64_t>(*usec));
    return env;
}

// ---------------------------------------------------------------------------------------------

notify_socket::notify_socket(const std::string& address) {
    if (address.empty())
        return;
    const bool abstract = address[0] == '@';
    if ((!abstract && address[0] != '/') || address.size() < 2 ||
        address.size() > sizeof addr_.sun_path) {
        get_logger("notify")->warn("NOTIFY_SOCKET '{}' is not a unix socket path: not notifying",
                                   address);
        return;
    }
    addr_.sun_family = AF_UNIX;
    std::memcpy(addr_.sun_path, address.data(), address.size());
    if (abstract) {
        addr_.sun_path[0] = '\0';  // a name in the abstract namespace: its length counts
        addr_len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    } else {
        addr_len_ = static_cast<socklen_t>(sizeof addr_);
    }
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) {
        get_logger("notify")->warn("cannot create the notify socket: {}: not notifying",
                                   std::strerror(errno));
    }
}

notify_socket::~notify_socket() {
    if (fd_ >= 0)
        ::close(fd_);
}

bool notify_socket::send(std::string_view message) {
    if (fd_ < 0)
        return false;
    const auto n = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL,
                            reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
    if (n < 0) {
        get_logger("notify")->debug("notify message not sent: {}", std::strerror(errno));
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------

service_notifier::service_notifier(event_loop& loop, status_source source,
                                   const notify_environment& env)
    : loop_(loop), source_(std::move(source)), socket_(env.socket), watchdog_(env.watchdog) {
    if (!socket_.enabled())
        return;
    get_logger("notify")->debug(
        "notifying the service manager at {}{}", env.socket,
        watchdog_.count() > 0
            ? ", watchdog every " + std::to_string(watchdog_.count() / 1000) + " ms"
            : std::string());
    source_.set_ready_handler([this] { on_ready(); });
    if (watchdog_.count() > 0)
        watchdog_tick();
    status_timer_ = loop_.add_timer(status_period, [this] { status_tick(); });
}

service_notifier::~service_notifier() {
    if (!socket_.enabled())
        return;
    source_.set_ready_handler(nullptr);
    if (status_timer_ != 0)
        loop_.cancel_timer(status_timer_);
    if (watchdog_timer_ != 0)
        loop_.cancel_timer(watchdog_timer_);
}

void service_notifier::reloading() {
    if (!ready_sent_ || stopping_)
        return;
    socket_.send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()));
}

void service_notifier::reloaded() {
    if (!ready_sent_ || stopping_)
        return;
    send_with_status("READY=1");
}

void service_notifier::stopping() {
    stopping_ = true;
    send_with_status("STOPPING=1");
}

void service_notifier::on_ready() {
    if (ready_sent_ || stopping_)
        return;
    ready_sent_ = true;
    send_with_status("READY=1");
}

void service_notifier::status_tick() {
    status_timer_ = loop_.add_timer(status_period, [this] { status_tick(); });
    auto text = status_text(current());
    if (text == last_status_)
        return;
    socket_.send("STATUS=" + text);
    last_status_ = std::move(text);
}

void service_notifier::watchdog_tick() {
    socket_.send("WATCHDOG=1");
    const auto half = std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_ / 2);
    watchdog_timer_ =
        loop_.add_timer(std::max(half, std::chrono::milliseconds(1)), [this] { watchdog_tick(); });
}

service_status service_notifier::current() const {
    auto s = source_.status();
    s.stopping = s.stopping || stopping_;
    return s;
}

void service_notifier::send_with_status(std::string_view head) {
    const auto s = current();
    last_status_ = status_text(s);
    socket_.send(with_status(head, s));
}

}  // namespace llmb
