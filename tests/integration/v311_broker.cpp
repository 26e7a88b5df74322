#include "v311_broker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "harness.hpp"

namespace llmb::itest {
namespace {

constexpr std::size_t max_connections = 64;
constexpr int connect_read_timeout_ms = 5000;

// The protocol level of the CONNECT at the start of buf: nullopt while more bytes are needed,
// -1 when it is no CONNECT.
std::optional<int> connect_level(const std::string& buf) {
    if (buf.empty())
        return std::nullopt;
    if (static_cast<unsigned char>(buf[0]) != 0x10)
        return -1;
    std::size_t pos = 1;
    for (;; ++pos) {  // the Remaining Length varint
        if (pos >= buf.size())
            return std::nullopt;
        if (pos > 4)
            return -1;
        if ((static_cast<unsigned char>(buf[pos]) & 0x80) == 0)
            break;
    }
    ++pos;
    if (buf.size() < pos + 2)
        return std::nullopt;
    const std::size_t name_len = static_cast<std::size_t>(
        (static_cast<unsigned char>(buf[pos]) << 8) | static_cast<unsigned char>(buf[pos + 1]));
    const std::size_t level_at = pos + 2 + name_len;
    if (buf.size() <= level_at)
        return std::nullopt;
    return static_cast<unsigned char>(buf[level_at]);
}

// Ends a refused connection the way a broker does: the end of the stream (FIN), then whatever
// the client still sends is read until it closes (bounded), so that the close never becomes a
// reset. (A close with unread bytes resets the connection, and Paho then reports a "socket
// error" instead of a close before CONNACK: not what the stand-in is meant to show.)
void close_gracefully(int fd) {
    ::shutdown(fd, SHUT_WR);
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        char sink[512];
        if (::poll(&p, 1, connect_read_timeout_ms) <= 0 || ::recv(fd, sink, sizeof sink, 0) <= 0)
            break;
    }
    ::close(fd);
}

}  // namespace

v311_broker::v311_broker(std::uint16_t upstream_port, v5_refusal mode)
    : upstream_port_(upstream_port), mode_(mode) {
    listen_fd_ = listen_on_loopback(port_, "v311_broker");
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (stop_fd_ < 0) {
        ::close(listen_fd_);
        throw std::runtime_error("v311_broker: eventfd failed");
    }
    acceptor_ = std::thread([this] { accept_loop(); });
}

v311_broker::~v311_broker() {
    const std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    acceptor_.join();
    for (auto& t : connections_)  // the acceptor has ended: nobody adds to the list now
        t.join();
    ::close(listen_fd_);
    ::close(stop_fd_);
}

void v311_broker::accept_loop() {
    for (;;) {
        std::array<pollfd, 2> fds{{{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (fds[1].revents != 0)
            return;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        const std::lock_guard<std::mutex> lock(mutex_);
        if (connections_.size() >= max_connections) {
            ::close(fd);  // bounded: a test never needs this many
            continue;
        }
        connections_.emplace_back([this, fd] { serve(fd); });
    }
}

// Reads the CONNECT up to its protocol level, then refuses (level 5, the whole CONNECT read
// first) or relays.
void v311_broker::serve(int fd) {
    std::string buf;
    std::optional<int> level;
    while (!level || (*level == 5 && mqtt_packet_size(buf, 0) == 0)) {
        std::array<pollfd, 2> fds{{{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), connect_read_timeout_ms) <= 0 || fds[1].revents != 0) {
            ::close(fd);
            return;
        }
        char chunk[512];
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
            ::close(fd);
            return;
        }
        buf.append(chunk, static_cast<std::size_t>(n));
        level = connect_level(buf);
    }
    if (*level == 5) {
        if (mode_ == v5_refusal::connack_0x01) {
            const char connack[] = {0x20, 0x02, 0x00, 0x01};
            send_all(fd, connack, sizeof connack);
        }
        ++refused_;
        close_gracefully(fd);
        return;
    }
    const int up = connect_to_loopback(upstream_port_);
    if (up < 0 || !send_all(up, buf.data(), buf.size())) {
        if (up >= 0)
            ::close(up);
        ::close(fd);
        return;
    }
    ++relayed_;
    relay(fd, up);
    ::close(up);
    ::close(fd);
}

// Copies bytes both ways until either side closes or the stand-in stops.
void v311_broker::relay(int client, int upstream) {
    for (;;) {
        std::array<pollfd, 3> fds{
            {{client, POLLIN, 0}, {upstream, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (fds[2].revents != 0)
            return;
        for (int i = 0; i < 2; ++i) {
            if (fds[static_cast<std::size_t>(i)].revents == 0)
                continue;
            const int from = i == 0 ? client : upstream;
            const int to = i == 0 ? upstream : client;
            char chunk[16384];
            const ssize_t n = ::recv(from, chunk, sizeof chunk, 0);
            if (n <= 0 || !send_all(to, chunk, static_cast<std::size_t>(n)))
                return;
        }
    }
}

}  // namespace llmb::itest
