#include "server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "clock.hpp"
#include "connection.hpp"
#include "http_response.hpp"

namespace llmb::mock {

namespace {

constexpr std::uint64_t listen_tag = 1;
constexpr std::uint64_t stop_tag = 2;
constexpr std::uint64_t first_connection_id = 16;

constexpr std::size_t read_chunk = 64 * 1024;
constexpr std::size_t max_body_bytes = 64 * 1024 * 1024;
// Input buffered while a response is in progress beyond which reading pauses.
constexpr std::size_t max_buffered_input = max_body_bytes + max_head_bytes;
// Output not yet sent beyond which a timed stream waits instead of adding tokens.
constexpr std::size_t output_high_water = 1024 * 1024;
constexpr std::size_t keep_capacity = 1024 * 1024;
// Chat completion request bodies kept for GET /mock/requests.
constexpr std::size_t kept_requests = 100;

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

int open_listener(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
    if (rc != 0) {
        throw std::runtime_error("cannot resolve " + host + ": " + gai_strerror(rc));
    }
    const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(found);
        throw_errno("socket");
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const int bound = bind(fd, found->ai_addr, found->ai_addrlen);
    const int bind_errno = errno;
    freeaddrinfo(found);
    if (bound != 0) {
        close(fd);
        throw std::system_error(bind_errno, std::generic_category(),
                                "bind " + host + ":" + service);
    }
    if (listen(fd, 65535) != 0) {
        close(fd);
        throw_errno("listen");
    }
    return fd;
}

}  // namespace

server::server(server_options options)
    : options_(std::move(options)),
      defaults_{options_.model, options_.tokens, options_.delay_ns,
                options_.ctx,   options_.models, options_.answer},
      ready_ns_(monotonic_ns() + options_.loading_ns),
      next_id_(first_connection_id),
      read_buffer_(read_chunk),
      requests_(kept_requests),
      health_status_(options_.fail_health ? 503 : 200) {
    listen_fd_ = open_listener(options_.host, options_.port);
}

server::~server() {
    connections_.clear();
    if (listen_fd_ >= 0) {
        close(listen_fd_);
    }
}

std::string server::local_address() const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    char ip[INET6_ADDRSTRLEN] = {};
    std::uint16_t port = 0;
    if (addr.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        return "[" + std::string(ip) + "]:" + std::to_string(port);
    }
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
    return std::string(ip) + ":" + std::to_string(port);
}

void server::run(int stop_fd) {
    loop_.watch(listen_fd_, EPOLLIN, listen_tag);
    loop_.watch(stop_fd, EPOLLIN, stop_tag);
    std::vector<event_loop::fd_event> fds;
    std::vector<event_loop::timer_event> timers;
    std::vector<std::uint64_t> ready;
    while (true) {
        fds.clear();
        timers.clear();
        loop_.wait(!ready_.empty(), fds, timers);
        for (const auto& ev : fds) {
            if (ev.tag == stop_tag) {
                return;
            }
            if (ev.tag == listen_tag) {
                accept_all();
                continue;
            }
            const auto it = connections_.find(ev.tag);
            if (it != connections_.end() && !it->second->dead) {
                on_event(*it->second, ev.events);
            }
        }
        for (const auto& t : timers) {
            const auto it = connections_.find(t.key);
            if (it != connections_.end() && !it->second->dead) {
                on_timer(*it->second, t.deadline_ns);
            }
        }
        ready.swap(ready_);
        for (const std::uint64_t id : ready) {
            const auto it = connections_.find(id);
            if (it == connections_.end()) {
                continue;
            }
            connection& c = *it->second;
            c.queued = false;
            if (!c.dead && c.job) {
                drive(c);
            }
        }
        ready.clear();
        bury();
    }
}

void server::accept_all() {
    while (true) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of descriptors: stop accepting until a connection closes.
                std::fprintf(stderr, "mock-llm-server: accept: %s\n", std::strerror(errno));
                loop_.unwatch(listen_fd_);
                accept_paused_ = true;
            }
            return;
        }
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_unique<connection>();
        c->fd = fd;
        c->id = next_id_++;
        c->interest = EPOLLIN | EPOLLRDHUP;
        loop_.watch(fd, c->interest, c->id);
        connections_.emplace(c->id, std::move(c));
    }
}

void server::on_event(connection& c, std::uint32_t events) {
    if ((events & EPOLLERR) != 0) {
        abort_connection(c);
        return;
    }
    if (c.reading && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0) {
        read_input(c);
    } else if (!c.reading && (events & (EPOLLRDHUP | EPOLLHUP)) != 0) {
        abort_connection(c);
        return;
    }
    if (!c.dead && (events & EPOLLOUT) != 0) {
        flush(c);
    }
}

void server::on_timer(connection& c, std::int64_t deadline_ns) {
    if (c.timer_ns != deadline_ns || !c.job) {
        return;  // a timer the job no longer waits for
    }
    c.timer_ns = -1;
    if (c.unsent() > output_high_water) {
        c.run_when_drained = true;  // the client reads slowly: wait for it
        return;
    }
    drive(c);
}

void server::read_input(connection& c) {
    while (true) {
        const ssize_t n = recv(c.fd, read_buffer_.data(), read_buffer_.size(), 0);
        if (n > 0) {
            c.in.append(read_buffer_.data(), static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < read_buffer_.size() ||
                c.in.size() > max_buffered_input) {
                break;
            }
            continue;
        }
        if (n == 0) {
            if (c.job) {  // the client left in the middle of an answer
                abort_connection(c);
                return;
            }
            c.eof = true;
            c.reading = false;
            update_interest(c);
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        }
        abort_connection(c);
        return;
    }
    if (!c.job) {
        process_input(c);
    } else if (c.in.size() > max_buffered_input) {
        c.reading = false;  // pipelined input piles up: wait for the answer to finish
        update_interest(c);
    }
}

void server::process_input(connection& c) {
    if (c.in_process) {
        return;  // the caller up the stack goes on with the next request
    }
    c.in_process = true;
    while (!c.dead && !c.job && !c.close_after_write && !c.reset_after_write) {
        const std::string_view input = std::string_view(c.in).substr(c.in_used);
        if (!c.head) {
            const std::size_t end = find_head_end(input, c.head_scan);
            if (end == std::string_view::npos) {
                c.head_scan = input.size();
                if (input.size() > max_head_bytes) {
                    c.keep_alive = false;
                    reply(c, 431,
                          error_body(431, "request head too large", "invalid_request_error"),
                          json_type);
                } else if (c.eof) {
                    c.close_after_write = true;
                }
                break;
            }
            request_head head;
            std::string error;
            const bool ok =
                end <= max_head_bytes && parse_request_head(input.substr(0, end), head, error);
            c.in_used += end;
            c.head_scan = 0;
            c.keep_alive = false;  // for the errors below: the stream cannot be trusted
            if (!ok) {
                const int status = end > max_head_bytes ? 431 : 400;
                reply(c, status,
                      error_body(status, error.empty() ? "request head too large" : error,
                                 "invalid_request_error"),
                      json_type);
                break;
            }
            if (head.chunked) {
                reply(c, 501,
                      error_body(501, "chunked request bodies are not supported",
                                 "not_supported_error"),
                      json_type);
                break;
            }
            if (head.content_length > max_body_bytes) {
                reply(c, 413, error_body(413, "request body too large", "invalid_request_error"),
                      json_type);
                break;
            }
            c.head = std::move(head);
            c.continue_sent = false;
            continue;
        }
        if (input.size() < c.head->content_length) {
            if (c.head->expect_continue && !c.continue_sent) {
                c.out += continue_response;
                c.continue_sent = true;
            }
            if (c.eof) {
                c.close_after_write = true;
            }
            break;
        }
        const request_head head = std::move(*c.head);
        c.head.reset();
        c.in_used += head.content_length;
        handle_request(c, head, input.substr(0, head.content_length));
    }
    c.in_process = false;
    if (c.dead) {
        return;
    }
    c.in.erase(0, c.in_used);
    c.in_used = 0;
    if (c.in.empty() && c.in.capacity() > keep_capacity) {
        std::string().swap(c.in);
    }
    if (c.eof && !c.job && !c.head && c.in.empty()) {
        c.close_after_write = true;
    }
    if (!c.reading && !c.eof && c.in.size() <= max_buffered_input) {
        c.reading = true;
        update_interest(c);
    }
    flush(c);
}

void server::drive(connection& c) {
    const job_action a = c.job->advance(c.out, monotonic_ns());
    if (!c.stream_counted && c.job->stream_started()) {
        c.stream_counted = true;
        ++stats_.streams_started;
    }
    switch (a.what) {
        case job_action::kind::wait_until:
            c.timer_ns = a.deadline_ns;
            loop_.add_timer(a.deadline_ns, c.id);
            break;
        case job_action::kind::run_again:
            c.run_when_drained = true;
            break;
        case job_action::kind::finished:
            end_job(c);
            break;
        case job_action::kind::close:
            end_job(c);
            c.close_after_write = true;
            break;
        case job_action::kind::reset:
            end_job(c);
            c.reset_after_write = true;
            break;
        case job_action::kind::stall:
            break;
    }
    flush(c);
    if (!c.dead && !c.job) {
        process_input(c);  // a pipelined request may be waiting
    }
}

void server::end_job(connection& c) {
    --stats_.active;
    if (c.stream_counted) {
        ++stats_.streams_completed;
    }
    c.job.reset();
    c.timer_ns = -1;
    c.run_when_drained = false;
    if (!c.keep_alive) {
        c.close_after_write = true;
    }
}

void server::flush(connection& c) {
    while (c.out_sent < c.out.size()) {
        const ssize_t n =
            send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
        if (n >= 0) {
            c.out_sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!c.writing) {
                c.writing = true;
                update_interest(c);
            }
            return;
        }
        abort_connection(c);
        return;
    }
    c.out.clear();
    c.out_sent = 0;
    if (c.out.capacity() > keep_capacity) {
        std::string().swap(c.out);
    }
    if (c.writing) {
        c.writing = false;
        update_interest(c);
    }
    if (c.reset_after_write || c.close_after_write) {
        close_connection(c, c.reset_after_write);
        return;
    }
    if (c.run_when_drained && c.job && !c.queued) {
        c.run_when_drained = false;
        c.queued = true;
        ready_.push_back(c.id);
    }
}

void server::update_interest(connection& c) {
    std::uint32_t events = c.writing ? std::uint32_t{EPOLLOUT} : 0U;
    if (c.reading) {
        events |= EPOLLIN | EPOLLRDHUP;
    } else if (!c.eof) {
        events |= EPOLLRDHUP;
    }
    if (events != c.interest) {
        c.interest = events;
        loop_.rewatch(c.fd, events, c.id);
    }
}

void server::abort_connection(connection& c) {
    if (c.job) {
        ++stats_.streams_aborted;
        --stats_.active;
        c.job.reset();
    }
    close_connection(c, false);
}

void server::close_connection(connection& c, bool reset) {
    if (c.dead) {
        return;
    }
    if (reset) {
        const linger l{1, 0};
        setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    loop_.unwatch(c.fd);
    close(c.fd);
    c.fd = -1;
    c.dead = true;
    graveyard_.push_back(c.id);
    if (accept_paused_) {
        accept_paused_ = false;
        loop_.watch(listen_fd_, EPOLLIN, listen_tag);
    }
}

void server::bury() {
    for (const std::uint64_t id : graveyard_) {
        connections_.erase(id);
    }
    graveyard_.clear();
}

}  // namespace llmb::mock
