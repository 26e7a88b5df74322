// A stand-in for a broker that speaks only MQTT 3.1.1: it refuses every MQTT 5 CONNECT, either
// by closing the connection without a word (as RabbitMQ's MQTT plugin does) or by answering
// CONNACK return code 0x01, unacceptable protocol version (as the 3.1.1 specification says),
// and relays every other connection byte for byte to a real broker.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace llmb::itest {

enum class v5_refusal {
    silent_close,  // close the connection, no CONNACK
    connack_0x01,  // CONNACK with return code 1, then close
};

class v311_broker {
public:
    // Listens on a free 127.0.0.1 port; 3.1.1 connections go to 127.0.0.1:upstream_port.
    v311_broker(std::uint16_t upstream_port, v5_refusal mode);
    ~v311_broker();  // stops listening, closes every connection, joins every thread
    v311_broker(const v311_broker&) = delete;
    v311_broker& operator=(const v311_broker&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    // MQTT 5 CONNECTs refused, and connections relayed to the real broker, so far.
    std::size_t refused() const noexcept { return refused_.load(); }
    std::size_t relayed() const noexcept { return relayed_.load(); }

private:
    void accept_loop();
    void serve(int fd);
    void relay(int client, int upstream);

    std::uint16_t upstream_port_;
    v5_refusal mode_;
    std::uint16_t port_ = 0;
    int listen_fd_ = -1;
    int stop_fd_ = -1;  // an eventfd: readable once the destructor runs
    std::atomic<std::size_t> refused_{0};
    std::atomic<std::size_t> relayed_{0};
    std::mutex mutex_;
    std::vector<std::thread> connections_;  // at most max_connections
    std::thread acceptor_;
};

}  // namespace llmb::itest
