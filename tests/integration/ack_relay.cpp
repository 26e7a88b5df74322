#include "ack_relay.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "harness.hpp"

namespace llmb::itest {
namespace {

// Appends what fd has to buf; false once it is closed or failed.
bool read_into(int fd, std::string& buf) {
    char chunk[16384];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    buf.append(chunk, static_cast<std::size_t>(n));
    return true;
}

}  // namespace

ack_relay::ack_relay(std::uint16_t upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = listen_on_loopback(port_, "ack_relay");
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    hold_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0 || hold_fd_ < 0) {
        for (int fd : {listen_fd_, stop_fd_, hold_fd_}) {
            if (fd >= 0)
                ::close(fd);
        }
        throw std::runtime_error("ack_relay: eventfd failed");
    }
    thread_ = std::thread([this] { run(); });
}

ack_relay::~ack_relay() {
    const std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
    ::close(listen_fd_);
    ::close(stop_fd_);
    ::close(hold_fd_);
}

void ack_relay::hold() {
    held_ = true;
    const std::uint64_t one = 1;
    (void)!::write(hold_fd_, &one, sizeof one);
}

void ack_relay::release() {
    held_ = false;
    const std::uint64_t one = 1;
    (void)!::write(hold_fd_, &one, sizeof one);
}

void ack_relay::reset() {
    reset_ = true;
    const std::uint64_t one = 1;
    (void)!::write(hold_fd_, &one, sizeof one);
}

std::size_t ack_relay::count_packets(const std::string& buf, bool from_client) {
    std::size_t at = 0;
    for (;;) {
        const std::size_t size = mqtt_packet_size(buf, at);
        if (size == 0)
            return at;
        const auto first = static_cast<unsigned char>(buf[at]);
        const int type = first >> 4;
        if (from_client && type == 3 && ((first >> 1) & 3) != 0)
            ++publishes_;
        if (!from_client && type == 4)
            ++acks_passed_;
        const std::size_t out =
            publishes_.load() - std::min(publishes_.load(), acks_passed_.load());
        if (out > most_.load())
            most_ = out;
        at += size;
    }
}

void ack_relay::run() {
    for (;;) {
        std::array<pollfd, 2> fds{{{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR)
            return;
        if (fds[1].revents != 0)
            return;
        if (fds[0].revents == 0)
            continue;
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0)
            continue;
        ++connections_;
        if (!relay(client))
            return;
    }
}

bool ack_relay::relay(int client) {
    const int up = connect_to_loopback(upstream_port_);
    if (up < 0) {
        ::close(client);
        return true;
    }
    reset_ = false;           // a reset asked for before this connection was for an earlier one
    std::string from_client;  // bytes of a packet not yet whole (all whole ones went on)
    std::string from_broker;  // what the broker sent and the client has not been given
    bool open = true;
    bool stop = false;
    while (open) {
        std::array<pollfd, 4> fds{
            {{client, POLLIN, 0}, {up, POLLIN, 0}, {stop_fd_, POLLIN, 0}, {hold_fd_, POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[2].revents != 0) {
            stop = true;
            break;
        }
        if (fds[3].revents != 0) {
            std::uint64_t v = 0;
            (void)!::read(hold_fd_, &v, sizeof v);
            if (reset_.exchange(false)) {
                // Linger 0: the close sends RST, the way a dying broker's kernel ends the
                // connection when what the client sent was never read.
                const linger hard{1, 0};
                ::setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
                break;
            }
        }
        if (fds[0].revents != 0) {
            const std::size_t before = from_client.size();
            open = read_into(client, from_client);
            if (from_client.size() > before &&
                !send_all(up, from_client.data() + before, from_client.size() - before))
                open = false;
            from_client.erase(0, count_packets(from_client, true));
        }
        if (fds[1].revents != 0 && !read_into(up, from_broker))
            open = false;
        if (!held_ && !from_broker.empty()) {
            // Whole packets only, so that every PUBACK counted has reached the client.
            const std::size_t whole = count_packets(from_broker, false);
            if (whole != 0 && !send_all(client, from_broker.data(), whole))
                open = false;
            from_broker.erase(0, whole);
        }
    }
    ::close(up);
    ::close(client);
    return !stop;
}

}  // namespace llmb::itest
