#include "daemon/mqtt/tcp_tuning.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>
#include <string>

namespace llmb {

std::uint16_t broker_port(std::string_view uri) noexcept {
    const bool tls = uri.rfind("ssl://", 0) == 0;
    const std::uint16_t fallback = tls ? 8883 : 1883;
    const auto scheme = uri.find("://");
    std::string_view rest = scheme == std::string_view::npos ? uri : uri.substr(scheme + 3);
    rest = rest.substr(0, rest.find('/'));
    const auto bracket = rest.rfind(']');  // [::1]:1883
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket))
        return fallback;
    const std::string_view digits = rest.substr(colon + 1);
    unsigned long port = 0;
    for (const char c : digits) {
        if (c < '0' || c > '9')
            return fallback;
        port = port * 10 + static_cast<unsigned long>(c - '0');
        if (port > 65535)
            return fallback;
    }
    return digits.empty() || port == 0 ? fallback : static_cast<std::uint16_t>(port);
}

namespace {

bool peer_port_is(int fd, std::uint16_t port) noexcept {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        return false;
    sockaddr_storage peer{};
    len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0)
        return false;
    if (peer.ss_family == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in*>(&peer)->sin_port) == port;
    if (peer.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_port) == port;
    return false;
}

}  // namespace

std::size_t set_nodelay_to_port(std::uint16_t port) noexcept {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr)
        return 0;
    const int own = dirfd(dir);
    std::size_t set = 0;
    while (const dirent* e = readdir(dir)) {
        char* end = nullptr;
        const long fd = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || fd == own)
            continue;
        const int s = static_cast<int>(fd);
        if (!peer_port_is(s, port))
            continue;
        const int one = 1;
        if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0)
            ++set;
    }
    closedir(dir);
    return set;
}

}  // namespace llmb
