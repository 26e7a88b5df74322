#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace llmb::itest {

using namespace std::chrono_literals;

const char* mosquitto_path() noexcept {
    return LLMB_MOSQUITTO_PATH;
}
const char* bridge_path() noexcept {
    return LLMB_BRIDGE_PATH;
}
const char* mock_llm_path() noexcept {
    return LLMB_MOCK_LLM_PATH;
}
const char* cli_path() noexcept {
    return LLMB_CLI_PATH;
}

std::string program_path(const std::string& name) {
    const char* env = std::getenv("PATH");
    std::istringstream dirs(std::string(env != nullptr ? env : "") + ":/usr/bin:/usr/sbin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const std::string candidate = dir + "/" + name;
        if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    throw std::runtime_error(name + " is not installed (needed by the tests)");
}
const char* example_config_path() noexcept {
    return LLMB_EXAMPLE_CONFIG_PATH;
}

namespace {

std::atomic<bool> g_test_failed{false};

std::string errno_text(std::string_view what) {
    return std::string(what) + ": " + std::strerror(errno);
}

// A socket file descriptor closed on scope exit.
class socket_fd {
public:
    socket_fd() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        if (fd_ < 0) {
            throw std::runtime_error(errno_text("socket"));
        }
    }
    ~socket_fd() { ::close(fd_); }
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
    int get() const noexcept { return fd_; }

private:
    int fd_;
};

bool connect_loopback(int fd, std::uint16_t port) {
    sockaddr_in addr = loopback(port);
    sockaddr generic{};
    std::memcpy(&generic, &addr, sizeof addr);
    return ::connect(fd, &generic, sizeof addr) == 0;
}

int remaining_ms(clock_type::time_point deadline) {
    auto left = std::chrono::duration_cast<ms>(deadline - clock_type::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

std::string tail(const std::string& s, std::size_t n) {
    return s.size() <= n ? s : "[...]\n" + s.substr(s.size() - n);
}

// Decodes a chunked transfer-encoded body; nullopt while it is incomplete.
std::optional<std::string> dechunk(std::string_view raw) {
    std::string out;
    std::size_t pos = 0;
    for (;;) {
        auto eol = raw.find("\r\n", pos);
        if (eol == std::string_view::npos) {
            return std::nullopt;
        }
        std::size_t size =
            std::strtoul(std::string(raw.substr(pos, eol - pos)).c_str(), nullptr, 16);
        pos = eol + 2;
        if (size == 0) {
            return out;
        }
        if (raw.size() < pos + size + 2) {
            return std::nullopt;
        }
        out.append(raw.substr(pos, size));
        pos += size + 2;
    }
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace

void note_test_failure() noexcept {
    g_test_failed = true;
}
void reset_test_failure() noexcept {
    g_test_failed = false;
}
bool test_failed() noexcept {
    return g_test_failed;
}

// ---------------------------------------------------------------------------------------------

test_dir::test_dir() : uncaught_at_start_(std::uncaught_exceptions()) {
    std::string templ = (std::filesystem::temp_directory_path() / "llmb-it-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
        throw std::runtime_error(errno_text("mkdtemp " + templ));
    }
    path_ = templ;
}

test_dir::~test_dir() {
    bool failed = test_failed() || std::uncaught_exceptions() > uncaught_at_start_;
    if (failed || std::getenv("LLMB_KEEP_TEST_DIRS") != nullptr) {
        if (failed) {
            dump_logs();
        }
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void test_dir::dump_logs() const {
    try {
        std::vector<std::filesystem::path> files;
        for (const auto& entry : std::filesystem::directory_iterator(path_)) {
            if (entry.is_regular_file()) {
                files.push_back(entry.path());
            }
        }
        std::sort(files.begin(), files.end());
        std::ostringstream out;
        out << "==== test failed; its directory is kept: " << path_.string() << "\n";
        for (const auto& f : files) {
            out << "---- " << f.filename().string() << " ----\n"
                << tail(read_file(f), 12'000) << "\n";
        }
        std::cerr << out.str() << std::flush;
    } catch (const std::exception& e) {
        std::cerr << "cannot list " << path_.string() << ": " << e.what() << "\n";
    }
}

// ---------------------------------------------------------------------------------------------

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

int connect_to_loopback(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && !connect_loopback(fd, port)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int listen_on_loopback(std::uint16_t& port, const char* owner) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = loopback(0);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 16) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const std::string why = std::strerror(errno);
        if (fd >= 0)
            ::close(fd);
        throw std::runtime_error(std::string(owner) + ": cannot listen on 127.0.0.1: " + why);
    }
    port = ntohs(addr.sin_port);
    return fd;
}

std::size_t mqtt_packet_size(const std::string& buf, std::size_t at) {
    std::size_t remaining = 0;
    for (std::size_t i = 1; i <= 4; ++i) {
        if (at + i >= buf.size())
            return 0;
        const auto b = static_cast<unsigned char>(buf[at + i]);
        remaining |= static_cast<std::size_t>(b & 0x7F) << (7 * (i - 1));
        if ((b & 0x80) == 0) {
            const std::size_t total = 1 + i + remaining;
            return buf.size() - at >= total ? total : 0;
        }
    }
    throw std::runtime_error("a Remaining Length of more than 4 bytes");
}

bool send_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

std::uint16_t free_port() {
    socket_fd s;
    sockaddr_in addr = loopback(0);
    sockaddr generic{};
    std::memcpy(&generic, &addr, sizeof addr);
    if (::bind(s.get(), &generic, sizeof addr) != 0) {
        throw std::runtime_error(errno_text("bind 127.0.0.1:0"));
    }
    socklen_t len = sizeof generic;
    if (::getsockname(s.get(), &generic, &len) != 0) {
        throw std::runtime_error(errno_text("getsockname"));
    }
    std::memcpy(&addr, &generic, sizeof addr);
    return ntohs(addr.sin_port);
}

bool can_connect(std::uint16_t port) {
    socket_fd s;
    return connect_loopback(s.get(), port);
}

bool wait_until(const std::function<bool()>& pred, ms timeout, ms every) {
    auto deadline = clock_type::now() + timeout;
    for (;;) {
        if (pred()) {
            return true;
        }
        if (clock_type::now() >= deadline) {
            return pred();
        }
        std::this_thread::sleep_for(every);  // poll interval, not synchronisation
    }
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::optional<std::size_t> proc_status_kb(pid_t pid, std::string_view field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
            line[field.size()] == ':') {
            return static_cast<std::size_t>(
                std::strtoull(line.c_str() + field.size() + 1, nullptr, 10));
        }
    }
    return std::nullopt;
}

void write_file(const std::filesystem::path& p, std::string_view content) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) {
        throw std::runtime_error("cannot write " + p.string());
    }
}

http_response http_get(std::uint16_t port, std::string_view path, ms timeout) {
    auto deadline = clock_type::now() + timeout;
    socket_fd s;
    if (!connect_loopback(s.get(), port)) {
        throw std::runtime_error(errno_text("connect 127.0.0.1:" + std::to_string(port)));
    }
    std::string req =
        "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(s.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        throw std::runtime_error(errno_text("send"));
    }
    std::string raw;
    char buf[4096];
    for (;;) {
        auto head_end = raw.find("\r\n\r\n");
        if (head_end != std::string::npos) {
            std::string head = lower(raw.substr(0, head_end));
            std::string_view body = std::string_view(raw).substr(head_end + 4);
            http_response r;
            r.status =
                std::atoi(raw.c_str() + std::min<std::size_t>(raw.find(' ') + 1, raw.size()));
            if (head.find("transfer-encoding: chunked") != std::string::npos) {
                if (auto b = dechunk(body)) {
                    r.body = *b;
                    return r;
                }
            } else if (auto cl = head.find("content-length:"); cl != std::string::npos) {
                std::size_t n = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
                if (body.size() >= n) {
                    r.body = std::string(body.substr(0, n));
                    return r;
                }
            }
        }
        pollfd p{s.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, remaining_ms(deadline));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            throw std::runtime_error("GET " + std::string(path) + " on port " +
                                     std::to_string(port) + ": no complete answer in time");
        }
        ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            auto head_end2 = raw.find("\r\n\r\n");
            if (head_end2 == std::string::npos) {
                throw std::runtime_error("GET " + std::string(path) + ": connection closed early");
            }
            http_response r;
            r.status =
                std::atoi(raw.c_str() + std::min<std::size_t>(raw.find(' ') + 1, raw.size()));
            r.body = raw.substr(head_end2 + 4);
            return r;
        }
        raw.append(buf, static_cast<std::size_t>(n));
    }
}

// ---------------------------------------------------------------------------------------------

process::process(std::string name, std::vector<std::string> argv, const std::filesystem::path& dir,
                 std::vector<std::string> extra_env)
    : name_(std::move(name)),
      stdout_path_(dir / (name_ + ".stdout.log")),
      stderr_path_(dir / (name_ + ".stderr.log")) {
    if (argv.empty()) {
        throw std::invalid_argument("process: empty argv");
    }
    std::vector<char*> args;
    for (auto& a : argv) {
        args.push_back(a.data());
    }
    args.push_back(nullptr);

    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view entry(*e);
        bool replaced = std::any_of(extra_env.begin(), extra_env.end(), [&](const auto& x) {
            return entry.substr(0, entry.find('=')) == x.substr(0, x.find('='));
        });
        if (!replaced) {
            env_strings.emplace_back(entry);
        }
    }
    env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_strings) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, stdout_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGTERM, SIGINT, SIGPIPE, SIGHUP}) {
        sigaddset(&defaults, sig);
    }
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    int rc = ::posix_spawn(&pid_, args[0], &actions, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        pid_ = -1;
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
}

process::~process() {
    try {
        if (pid_ > 0 && !status_) {
            terminate(5000ms);
        }
    } catch (...) {
        ::kill(pid_, SIGKILL);
    }
    if (pidfd_ >= 0) {
        ::close(pidfd_);
    }
}

std::size_t process::stderr_size() const {
    std::error_code ec;
    auto size = std::filesystem::file_size(stderr_path_, ec);
    return ec ? 0 : static_cast<std::size_t>(size);
}

bool process::wait_stderr(std::string_view needle, ms timeout, std::size_t from) const {
    return wait_until([&] { return stderr_text().find(needle, from) != std::string::npos; },
                      timeout, 20ms);
}

bool process::reap(bool block) {
    if (status_) {
        return true;
    }
    int st = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r != pid_) {
        return false;
    }
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
}

bool process::running() {
    return !reap(false);
}

std::optional<int> process::wait_exit(ms timeout) {
    auto deadline = clock_type::now() + timeout;
    if (pidfd_ < 0) {
        wait_until([this] { return reap(false); }, timeout, 5ms);
        return status_;
    }
    while (!reap(false)) {
        pollfd p{pidfd_, POLLIN, 0};
        int left = remaining_ms(deadline);
        int ready = ::poll(&p, 1, left);
        if (ready == 0 && left == 0) {
            break;
        }
        if (ready < 0 && errno != EINTR) {
            throw std::runtime_error(errno_text("poll pidfd"));
        }
    }
    return status_;
}

void process::send_signal(int sig) {
    if (!status_ && ::kill(pid_, sig) != 0 && errno != ESRCH) {
        throw std::runtime_error(errno_text("kill " + std::to_string(pid_)));
    }
}

int process::terminate(ms grace) {
    if (status_) {
        return *status_;
    }
    send_signal(SIGTERM);
    if (!wait_exit(grace)) {
        std::cerr << name_ << " (pid " << pid_ << ") ignored SIGTERM for " << grace.count()
                  << " ms; killing it\n";
        send_signal(SIGKILL);
        reap(true);
    }
    return *status_;
}

}  // namespace llmb::itest
