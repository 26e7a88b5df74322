// Nagle off on the broker connection (daemon/mqtt/tcp_tuning.hpp).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

#include "daemon/mqtt/tcp_tuning.hpp"

using llmb::broker_port;
using llmb::set_nodelay_to_port;

TEST_CASE("broker_port reads the port of a broker URI, or the scheme's default") {
    CHECK(broker_port("tcp://127.0.0.1:18830") == 18830);
    CHECK(broker_port("tcp://broker.example.net") == 1883);
    CHECK(broker_port("ssl://broker.example.net") == 8883);
    CHECK(broker_port("ssl://broker.example.net:8884") == 8884);
    CHECK(broker_port("tcp://[::1]:1999") == 1999);
    CHECK(broker_port("tcp://[::1]") == 1883);
    CHECK(broker_port("tcp://host:99999") == 1883);
    CHECK(broker_port("tcp://host:12ab") == 1883);
    CHECK(broker_port("tcp://host:") == 1883);
}

namespace {

struct socket_fd {
    int fd = -1;
    explicit socket_fd(int f) : fd(f) {}
    ~socket_fd() {
        if (fd >= 0)
            ::close(fd);
    }
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
};

// A listening socket on 127.0.0.1 and its port.
std::uint16_t listen_on(const socket_fd& s) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(s.fd, 4) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    return ntohs(a.sin_port);
}

void connect_to(const socket_fd& s, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    REQUIRE(::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
}

int nodelay(const socket_fd& s) {
    int v = -1;
    socklen_t len = sizeof v;
    REQUIRE(::getsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0);
    return v;
}

}  // namespace

TEST_CASE("set_nodelay_to_port sets TCP_NODELAY on the connections to that port only") {
    socket_fd broker(::socket(AF_INET, SOCK_STREAM, 0));
    socket_fd other(::socket(AF_INET, SOCK_STREAM, 0));
    const std::uint16_t broker_at = listen_on(broker);
    const std::uint16_t other_at = listen_on(other);
    socket_fd to_broker(::socket(AF_INET, SOCK_STREAM, 0));
    socket_fd to_other(::socket(AF_INET, SOCK_STREAM, 0));
    connect_to(to_broker, broker_at);
    connect_to(to_other, other_at);
    REQUIRE(nodelay(to_broker) == 0);
    REQUIRE(nodelay(to_other) == 0);

    CHECK(set_nodelay_to_port(broker_at) == 1);
    CHECK(nodelay(to_broker) != 0);
    CHECK(nodelay(to_other) == 0);
    // The listening socket has no peer and is left alone; nothing else matches.
    CHECK(set_nodelay_to_port(static_cast<std::uint16_t>(broker_at ^ 1)) == 0);
}
