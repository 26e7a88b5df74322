// Building blocks of the integration tests: a temporary directory per test, child processes
// with their output in files, free ports, a minimal HTTP GET and deadline-bound waiting.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmb::itest {

using clock_type = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

// Paths of the programs under test, compiled in by CMake.
const char* mosquitto_path() noexcept;
const char* bridge_path() noexcept;
const char* mock_llm_path() noexcept;
const char* cli_path() noexcept;
// The absolute path of a program on PATH, /usr/bin or /usr/sbin (posix_spawn takes no search
// path); throws when it is not installed.
std::string program_path(const std::string& name);
// The commented example configuration shipped with the sources.
const char* example_config_path() noexcept;

// Failure bookkeeping: the doctest listener in main.cpp calls note_test_failure() for every
// failed assertion; test_case_start resets it.
void note_test_failure() noexcept;
void reset_test_failure() noexcept;
bool test_failed() noexcept;

// A fresh directory per test. Removed on destruction when the test passed; when it failed (an
// assertion failed or an exception is unwinding) it is kept, and its path and the tail of every
// log file in it are printed to stderr.
class test_dir {
public:
    test_dir();
    ~test_dir();
    test_dir(const test_dir&) = delete;
    test_dir& operator=(const test_dir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path file(std::string_view name) const { return path_ / name; }

private:
    void dump_logs() const;

    std::filesystem::path path_;
    int uncaught_at_start_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed).
// 127.0.0.1:port as a socket address.
sockaddr_in loopback(std::uint16_t port);

std::uint16_t free_port();

// A TCP socket connected to 127.0.0.1:port, or -1.
int connect_to_loopback(std::uint16_t port);

// A socket listening on a free port of 127.0.0.1 (its number in port); throws with what the
// owner of the socket is (for the message) when it cannot listen.
int listen_on_loopback(std::uint16_t& port, const char* owner);

// The size of the whole MQTT packet at offset at of buf, 0 while more bytes are needed; throws
// on a Remaining Length of more than 4 bytes.
std::size_t mqtt_packet_size(const std::string& buf, std::size_t at);

// Sends all n bytes (no SIGPIPE); false once the connection failed.
bool send_all(int fd, const char* p, std::size_t n);

// True when a TCP connection to 127.0.0.1:port succeeds.
bool can_connect(std::uint16_t port);

// Polls pred every `every` until it holds or the timeout passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, ms timeout, ms every = ms{10});

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, std::string_view content);

struct http_response {
    int status = 0;
    std::string body;
};

// GET http://127.0.0.1:port{path} with Connection: close; throws on connect failure or timeout.
http_response http_get(std::uint16_t port, std::string_view path, ms timeout = ms{5000});

// A field of /proc/PID/status in kB ("VmRSS", "VmHWM", ...); nullopt when unreadable.
std::optional<std::size_t> proc_status_kb(pid_t pid, std::string_view field);

// A child process started with posix_spawn, stdin from /dev/null and stdout/stderr written to
// <dir>/<name>.stdout.log and <dir>/<name>.stderr.log. The destructor never leaves it running.
class process {
public:
    process(std::string name, std::vector<std::string> argv, const std::filesystem::path& dir,
            std::vector<std::string> extra_env = {});
    ~process();
    process(const process&) = delete;
    process& operator=(const process&) = delete;

    pid_t pid() const noexcept { return pid_; }
    const std::string& name() const noexcept { return name_; }
    const std::filesystem::path& stdout_path() const noexcept { return stdout_path_; }
    const std::filesystem::path& stderr_path() const noexcept { return stderr_path_; }
    std::string stdout_text() const { return read_file(stdout_path_); }
    std::string stderr_text() const { return read_file(stderr_path_); }
    // Bytes written to stderr so far: an offset for wait_stderr.
    std::size_t stderr_size() const;
    // Polls stderr until the text after byte `from` contains needle; false at the deadline.
    bool wait_stderr(std::string_view needle, ms timeout, std::size_t from = 0) const;

    // False once the process has exited (reaps it and keeps its status).
    bool running();
    // Waits for the process to exit: its exit code, 128 + signal when killed by one, or nullopt
    // when it is still running at the deadline.
    std::optional<int> wait_exit(ms timeout);
    void send_signal(int sig);
    // SIGTERM, wait up to grace, then SIGKILL. Returns the exit status as wait_exit does.
    int terminate(ms grace = ms{5000});

private:
    bool reap(bool block);

    std::string name_;
    std::filesystem::path stdout_path_;
    std::filesystem::path stderr_path_;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::optional<int> status_;
};

}  // namespace llmb::itest
