// Turns Nagle's algorithm off on the connection to the broker.
//
// Paho's C library leaves TCP_NODELAY unset and gives no access to its socket. With Nagle on,
// a PUBACK the bridge sends for an incoming request is a small segment the broker's kernel
// acknowledges late (delayed ACK, about 40 ms), and the chunks written meanwhile wait for that
// acknowledgement: the first text of new streams reached subscribers 40 ms late.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace llmb {

// The TCP port of a broker URI (tcp://HOST:PORT, ssl://HOST:PORT, [IPv6] hosts included);
// without one, 1883, or 8883 for ssl://. Pure.
std::uint16_t broker_port(std::string_view uri) noexcept;

// Sets TCP_NODELAY on every TCP socket of this process whose peer port is `port`. Returns how
// many sockets it set.
std::size_t set_nodelay_to_port(std::uint16_t port) noexcept;

}  // namespace llmb
