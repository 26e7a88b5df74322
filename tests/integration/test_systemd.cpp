// The systemd notify protocol: the test plays the service manager with a unix datagram socket
// named in the bridge's $NOTIFY_SOCKET and checks READY=1, STATUS=, WATCHDOG=1, RELOADING=1 and
// STOPPING=1 against what the bridge is doing.
#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

// The lines of one notify message ("KEY=VALUE" each).
std::vector<std::string> lines_of(std::string_view msg) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= msg.size()) {
        const auto nl = msg.find('\n', start);
        const auto end = nl == std::string_view::npos ? msg.size() : nl;
        if (end > start) {
            out.emplace_back(msg.substr(start, end - start));
        }
        if (nl == std::string_view::npos) {
            break;
        }
        start = nl + 1;
    }
    return out;
}

bool has_line(std::string_view msg, std::string_view line) {
    for (const auto& l : lines_of(msg)) {
        if (l == line) {
            return true;
        }
    }
    return false;
}

// The value of KEY= in msg; nullopt when it has no such line.
std::optional<std::string> value_of(std::string_view msg, std::string_view key) {
    const std::string prefix = std::string(key) + "=";
    for (const auto& l : lines_of(msg)) {
        if (l.rfind(prefix, 0) == 0) {
            return l.substr(prefix.size());
        }
    }
    return std::nullopt;
}

struct status_counts {
    std::string state;
    std::uint64_t in_flight = 0;
    std::uint64_t served = 0;
};

// "connected, 1 in flight, 2 served" and the like.
std::optional<status_counts> parse_status(std::string_view msg) {
    const auto v = value_of(msg, "STATUS");
    if (!v) {
        return std::nullopt;
    }
    static const std::regex re("([a-z ]+), ([0-9]+) in flight, ([0-9]+) served");
    std::smatch m;
    if (!std::regex_match(*v, m, re)) {
        return std::nullopt;
    }
    return status_counts{m[1].str(), std::stoull(m[2].str()), std::stoull(m[3].str())};
}

// The service manager's end: a unix datagram socket bound to a path or, for "@name", to a name
// in the abstract namespace. Keeps every message received.
class notify_listener {
public:
    explicit notify_listener(std::string address) : address_(std::move(address)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
        }
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (address_.size() >= sizeof addr.sun_path) {
            throw std::runtime_error("notify socket address too long: " + address_);
        }
        std::memcpy(addr.sun_path, address_.data(), address_.size());
        auto len = static_cast<socklen_t>(sizeof addr);
        if (address_[0] == '@') {
            addr.sun_path[0] = '\0';
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
        }
        if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) < 0) {
            const int err = errno;
            ::close(fd_);
            throw std::runtime_error("bind " + address_ + ": " + std::strerror(err));
        }
    }
    ~notify_listener() { ::close(fd_); }
    notify_listener(const notify_listener&) = delete;
    notify_listener& operator=(const notify_listener&) = delete;

    // A name in the abstract namespace that no other test uses.
    static std::string unique_abstract() {
        static std::atomic<int> counter{0};
        return "@llmb-itest-notify-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter.fetch_add(1));
    }

    const std::string& address() const noexcept { return address_; }
    std::string env() const { return "NOTIFY_SOCKET=" + address_; }
    const std::vector<std::string>& messages() const noexcept { return messages_; }

    // Receives until a message from index `from` on satisfies pred; its index, or nullopt at
    // the deadline.
    std::optional<std::size_t> wait_for(const std::function<bool(const std::string&)>& pred,
                                        ms timeout, std::size_t from = 0) {
        const auto deadline = clock_type::now() + timeout;
        for (std::size_t i = from;; ++i) {
            while (i >= messages_.size()) {
                if (!receive(deadline)) {
                    return std::nullopt;
                }
            }
            if (pred(messages_[i])) {
                return i;
            }
        }
    }
    std::optional<std::size_t> wait_line(std::string_view line, ms timeout, std::size_t from = 0) {
        return wait_for([&](const std::string& m) { return has_line(m, line); }, timeout, from);
    }

    // Takes in whatever has arrived, without waiting.
    void drain() {
        while (receive(clock_type::now())) {
        }
    }

    std::size_t count_line(std::string_view line) const {
        return static_cast<std::size_t>(
            std::count_if(messages_.begin(), messages_.end(),
                          [&](const std::string& m) { return has_line(m, line); }));
    }

    // Everything received, one message a line, for failure messages.
    std::string dump() const {
        std::string s;
        for (const auto& m : messages_) {
            s += "  [" + m + "]\n";
        }
        return s.empty() ? "  (nothing)\n" : s;
    }

private:
    bool receive(clock_type::time_point deadline) {
        const auto left = std::chrono::duration_cast<ms>(deadline - clock_type::now()).count();
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0))) <= 0) {
            return false;
        }
        char buf[4096];
        const auto n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            return false;
        }
        messages_.emplace_back(buf, static_cast<std::size_t>(n));
        return true;
    }

    std::string address_;
    int fd_ = -1;
    std::vector<std::string> messages_;
};

// A stack whose bridge reports to notify (env: further NAME=VALUE entries).
stack_options notified(const notify_listener& notify, std::vector<std::string> env = {}) {
    stack_options opts;
    opts.bridge.env = std::move(env);
    opts.bridge.env.push_back(notify.env());
    return opts;
}

bool status_is(const std::string& msg, std::uint64_t in_flight, std::uint64_t served) {
    const auto s = parse_status(msg);
    return s && s->in_flight == in_flight && s->served == served;
}

TEST_SUITE("systemd") {
    TEST_CASE("READY=1 comes only once the bridge is connected and subscribed") {
        test_dir dir;
        mock_llm llm(dir);
        notify_listener notify(dir.file("notify.sock").string());
        const std::uint16_t port = free_port();
        process br("llm-mqtt-bridge",
                   {bridge_path(), "--mqtt", "tcp://127.0.0.1:" + std::to_string(port), "--llm",
                    llm.url()},
                   dir.path(), {notify.env()});
        // No broker yet: the bridge tries, fails, and is not ready.
        REQUIRE(br.wait_stderr("cannot connect to tcp://127.0.0.1:", 10s));
        notify.drain();
        CHECK_MESSAGE(notify.count_line("READY=1") == 0, notify.dump());

        broker_options bo;
        bo.port = port;
        broker mqtt(dir, bo);
        test_client c(mqtt.url());
        c.subscribe_client("sd");
        auto ready = notify.wait_line("READY=1", 15s);
        REQUIRE_MESSAGE(ready, "no READY=1 after the broker came up:\n" << notify.dump());
        // Requests sent the moment READY=1 arrives are taken: the filters are subscribed.
        const std::string text = "answered right after READY";
        c.publish_request("sd", echo_request("r1", text));
        auto s = c.collect("sd", "r1", 10s);
        check_done(s, text);

        const auto& msg = notify.messages()[*ready];
        CHECK(has_line(msg, "STATUS=connected, 0 in flight, 0 served"));
        CHECK(notify.count_line("READY=1") == 1);
        CHECK(br.terminate(10s) == 0);
    }

    TEST_CASE("STATUS follows the requests in flight and served; WATCHDOG=1 keeps coming") {
        notify_listener notify(notify_listener::unique_abstract());
        // WATCHDOG_USEC as systemd sets it, 0.4 s instead of the usual seconds: several feeds
        // come within the test.
        stack st(notified(notify, {"WATCHDOG_USEC=400000"}));
        auto ready = notify.wait_line("READY=1", 10s);
        REQUIRE_MESSAGE(ready, notify.dump());
        CHECK(status_is(notify.messages()[*ready], 0, 0));

        test_client c(st.mqtt.url());
        c.subscribe_client("sd");
        c.publish_request("sd", mock_request("slow", "tokens=40 delay_ms=50"));
        REQUIRE(c.wait_first_chunk("sd", "slow", 10s));
        auto busy =
            notify.wait_for([](const std::string& m) { return status_is(m, 1, 0); }, 5s, *ready);
        CHECK_MESSAGE(busy, "no STATUS with 1 in flight:\n" << notify.dump());
        auto s = c.collect("sd", "slow", 15s);
        check_well_formed(s);
        CHECK(s.last()["type"] == "done");
        auto served = notify.wait_for([](const std::string& m) { return status_is(m, 0, 1); }, 5s,
                                      busy.value_or(0));
        CHECK_MESSAGE(served, "no STATUS with 1 served after the request:\n" << notify.dump());
        if (served) {
            CHECK(parse_status(notify.messages()[*served])->state == "connected");
        }

        // Fed every 200 ms: a couple of seconds have passed, and it keeps coming.
        const std::size_t fed = notify.count_line("WATCHDOG=1");
        CHECK_MESSAGE(fed >= 3, notify.dump());
        const std::size_t mark = notify.messages().size();
        auto next = notify.wait_line("WATCHDOG=1", 3s, mark);
        REQUIRE_MESSAGE(next, notify.dump());
        CHECK(notify.wait_line("WATCHDOG=1", 3s, *next + 1));
    }

    TEST_CASE("a watchdog meant for another process (WATCHDOG_PID) is not fed") {
        notify_listener notify(notify_listener::unique_abstract());
        // A watchdog of 0.1 s for PID 1: it would have been fed many times before STATUS ticks.
        stack st(notified(notify, {"WATCHDOG_USEC=100000", "WATCHDOG_PID=1"}));
        auto ready = notify.wait_line("READY=1", 10s);
        REQUIRE_MESSAGE(ready, notify.dump());
        test_client c(st.mqtt.url());
        check_serving(c, "wd", "w1");
        // A STATUS tick comes a second after the start at the earliest: by then a watchdog of
        // 100 ms would have been fed several times.
        REQUIRE_MESSAGE(
            notify.wait_for([](const std::string& m) { return status_is(m, 0, 1); }, 5s, *ready),
            notify.dump());
        CHECK_MESSAGE(notify.count_line("WATCHDOG=1") == 0, notify.dump());
    }

    TEST_CASE("STOPPING=1 arrives when SIGTERM starts the shutdown, before the exit") {
        notify_listener notify(notify_listener::unique_abstract());
        // The default grace (10 s) lets the two-second stream finish after SIGTERM.
        stack st(notified(notify));
        REQUIRE_MESSAGE(notify.wait_line("READY=1", 10s), notify.dump());
        test_client c(st.mqtt.url());
        c.subscribe_client("sd");
        c.publish_request("sd", mock_request("long", "tokens=40 delay_ms=50"));
        REQUIRE(c.wait_first_chunk("sd", "long", 10s));

        st.br.proc().send_signal(SIGTERM);
        auto stopping = notify.wait_line("STOPPING=1", 5s);
        REQUIRE_MESSAGE(stopping, notify.dump());
        // The request in flight is still being finished within the grace period.
        CHECK(st.br.proc().running());
        const auto status = parse_status(notify.messages()[*stopping]);
        REQUIRE(status);
        CHECK(status->state == "stopping");
        CHECK(status->in_flight == 1);

        auto s = c.collect("sd", "long", 15s);
        check_well_formed(s);
        CHECK(s.last()["type"] == "done");
        auto code = st.br.proc().wait_exit(10s);
        REQUIRE(code.has_value());
        CHECK(*code == 0);
        CHECK(notify.count_line("STOPPING=1") == 1);
    }

    TEST_CASE("SIGHUP is reported as RELOADING=1, then READY=1") {
        notify_listener notify(notify_listener::unique_abstract());
        stack st(notified(notify));
        auto ready = notify.wait_line("READY=1", 10s);
        REQUIRE_MESSAGE(ready, notify.dump());

        st.br.proc().send_signal(SIGHUP);
        auto reloading = notify.wait_line("RELOADING=1", 10s, *ready + 1);
        REQUIRE_MESSAGE(reloading, notify.dump());
        const auto usec = value_of(notify.messages()[*reloading], "MONOTONIC_USEC");
        REQUIRE(usec);
        CHECK(std::stoull(*usec) > 0);
        CHECK_MESSAGE(notify.wait_line("READY=1", 10s, *reloading + 1), notify.dump());
        test_client c(st.mqtt.url());
        check_serving(c, "rl", "after-reload");
    }
}

}  // namespace
}  // namespace llmb::itest
