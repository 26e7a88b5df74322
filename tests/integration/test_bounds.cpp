// Bounded resources under big answers and stuck readers: a 100 MB answer streams through to
// done without the bridge holding it, and a subscriber that stops reading (with a small broker
// queue) slows nobody down and does not make the bridge grow.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// The bridge's peak resident memory may not exceed this. The answers below are 20 and 100 MB,
// so a bridge that buffered an answer would break it.
constexpr std::size_t k_peak_bound_kb = 64 * 1024;

constexpr std::size_t k_huge_piece = 64 * 1024;  // the mock's `huge` token: 64 KiB of 'x'

// A stream that ended with done and carried `bytes` bytes of text (checked through done.bytes
// and the reassembled text).
void check_done_bytes(const response_stream& s, std::size_t bytes) {
    INFO(s.summary());
    REQUIRE(s.finished());
    CHECK(s.terminals() == 1);
    CHECK(s.assembler.violations().empty());
    const auto& last = s.last();
    CHECK(last["type"] == "done");
    CHECK(last["bytes"] == bytes);
    CHECK(s.text().size() == bytes);
    CHECK(s.text().find_first_not_of('x') == std::string::npos);
}

void append_string(std::string& out, std::string_view s) {
    out += static_cast<char>(s.size() >> 8);
    out += static_cast<char>(s.size() & 0xff);
    out += s;
}

// An MQTT 3.1.1 packet: the type byte, the remaining length, the body.
std::string packet(std::uint8_t type, const std::string& body) {
    std::string out(1, static_cast<char>(type));
    std::size_t n = body.size();
    do {
        auto byte = static_cast<std::uint8_t>(n % 128);
        n /= 128;
        if (n > 0) {
            byte = static_cast<std::uint8_t>(byte | 0x80);
        }
        out += static_cast<char>(byte);
    } while (n > 0);
    return out + body;
}

// A subscriber that connects, subscribes at QoS 1, reads CONNACK and SUBACK, and then never
// reads again: its socket buffer fills and the broker has to queue (and drop) for it.
class stuck_subscriber {
public:
    stuck_subscriber(std::uint16_t port, const std::string& filter) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            throw std::runtime_error("socket failed");
        }
        int small = 4096;  // a small receive buffer: the broker's writes stall early
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("connect to the broker failed");
        }
        std::string connect;
        append_string(connect, "MQTT");
        connect += "\x04\x02";                  // protocol level 4, clean session
        connect += std::string("\x00\x00", 2);  // no keep-alive: the broker never times it out
        append_string(connect, "stuck-subscriber");
        std::string subscribe("\x00\x01", 2);  // packet id 1
        append_string(subscribe, filter);
        subscribe += '\x01';  // QoS 1
        send_all(packet(0x10, connect) + packet(0x82, subscribe));
        const std::string acks = read_exactly(4 + 5, 5s);  // CONNACK, SUBACK
        if (acks[0] != 0x20 || acks[3] != 0 || static_cast<std::uint8_t>(acks[4]) != 0x90 ||
            acks[8] != 1) {
            throw std::runtime_error("the broker did not accept the stuck subscriber");
        }
    }
    ~stuck_subscriber() { ::close(fd_); }
    stuck_subscriber(const stuck_subscriber&) = delete;
    stuck_subscriber& operator=(const stuck_subscriber&) = delete;

private:
    void send_all(const std::string& data) {
        if (::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(data.size())) {
            throw std::runtime_error("send to the broker failed");
        }
    }
    std::string read_exactly(std::size_t n, ms timeout) {
        std::string out;
        const auto deadline = clock_type::now() + timeout;
        while (out.size() < n) {
            const auto left = std::chrono::duration_cast<ms>(deadline - clock_type::now());
            pollfd p{fd_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                throw std::runtime_error("no answer from the broker");
            }
            char buf[16];
            const auto got = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
            if (got <= 0) {
                throw std::runtime_error("the broker closed the connection");
            }
            out.append(buf, static_cast<std::size_t>(got));
        }
        return out;
    }

    int fd_ = -1;
};

TEST_SUITE("bounds") {
    TEST_CASE("a 100 MB answer streams through to done without the bridge holding it") {
        stack_options opts;
        opts.bridge.args = {"--no-text-topic"};  // else the 100 MB go through the broker twice
        stack st(opts);
        test_client c(st.mqtt.url());
        c.subscribe("llm/response/big/#");

        constexpr std::size_t tokens = 1600;  // 1600 x 64 KiB = 100 MiB
        c.publish_request("big", mock_request("h1", "fault=huge tokens=" + std::to_string(tokens)));
        auto s = c.collect("big", "h1", 240s);
        check_done_bytes(s, tokens * k_huge_piece);
        CHECK(s.last()["finish_reason"] == "stop");
        check_peak_rss(st.br.proc(), k_peak_bound_kb);

        test_client other(st.mqtt.url());
        other.subscribe_client("after");
        check_serving(other, "after", "after_huge");
    }

    TEST_CASE("answers held back while the broker is stalled do not time out as silence") {
        stack_options opts;
        // A short idle timeout, so that the watchdog looks several times while the answer is
        // held back.
        opts.bridge.args = {"--idle-timeout-ms", "300"};
        stack st(opts);
        test_client c(st.mqtt.url());
        c.subscribe("llm/response/held/#");

        constexpr std::size_t tokens = 320;  // 20 MiB: far beyond what may wait for the broker
        c.publish_request("held",
                          mock_request("h1", "fault=huge tokens=" + std::to_string(tokens)));
        REQUIRE(c.wait_first_chunk("held", "h1", 10s));

        // The broker stops taking anything: the bridge's queue fills and it holds the answer
        // back. It stays stalled for several idle timeouts before it goes on.
        const auto mark = st.br.proc().stderr_size();
        st.mqtt.proc().send_signal(SIGSTOP);
        const bool held = st.br.proc().wait_stderr("holding answers back", 20s, mark);
        const auto held_at = clock_type::now();
        // Letting time pass is the point here: five idle timeouts of being held back.
        wait_until([&] { return clock_type::now() - held_at > 1500ms; }, 3s);
        st.mqtt.proc().send_signal(SIGCONT);
        REQUIRE(held);

        auto s = c.collect("held", "h1", 120s);
        check_done_bytes(s, tokens * k_huge_piece);
        CHECK(st.br.proc().stderr_text().find("stalled") == std::string::npos);
    }

    TEST_CASE("a subscriber that stops reading, with a small broker queue, slows nobody down") {
        stack_options opts;
        // A broker that keeps little for a slow client: beyond it, that client's messages are
        // dropped (the broker's business, not the bridge's).
        opts.broker.max_queued_messages = 20;
        stack st(opts);
        stuck_subscriber stuck(st.mqtt.port(), "llm/#");

        // 20 MiB for a client that only the stuck subscriber listens to: far more than its
        // socket and queue take. The bridge's log line tells how the request ended.
        constexpr std::size_t tokens = 320;
        test_client c(st.mqtt.url());
        c.publish_request("slow",
                          mock_request("s1", "fault=huge tokens=" + std::to_string(tokens)));

        // Meanwhile a reading client is served exactly.
        c.subscribe_client("fast");
        for (const char* id : {"n1", "n2", "n3"}) {
            CAPTURE(id);
            check_serving(c, "fast", id);
        }

        const std::string line_start = "[s1] client=slow ";
        REQUIRE(st.br.proc().wait_stderr(line_start, 120s));
        const std::string log = st.br.proc().stderr_text();
        const auto at = log.find(line_start);
        const std::string line = log.substr(at, log.find('\n', at) - at);
        INFO(line);
        CHECK(line.find(" outcome=done ") != std::string::npos);
        CHECK(line.find(" bytes=" + std::to_string(tokens * k_huge_piece) + " ") !=
              std::string::npos);
        check_peak_rss(st.br.proc(), k_peak_bound_kb);
        check_serving(c, "fast", "n4");
        CHECK(st.br.proc().running());
    }
}

}  // namespace
}  // namespace llmb::itest
