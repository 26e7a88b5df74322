// The HTTP/1.1 server: one thread, non-blocking sockets on one epoll, keep-alive and pipelining.
// It owns every connection and the chat job answering on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "event_loop.hpp"
#include "options.hpp"
#include "plan.hpp"
#include "request_log.hpp"

namespace llmb::mock {

struct connection;
struct request_head;

class server {
public:
    // Binds and listens; throws std::system_error.
    explicit server(server_options options);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // The address actually bound, as "127.0.0.1:PORT".
    std::string local_address() const;

    // Serves until stop_fd (a signalfd) becomes readable.
    void run(int stop_fd);

private:
    struct counters {
        std::uint64_t requests = 0;  // POST /v1/chat/completions received
        std::uint64_t streams_started = 0;
        std::uint64_t streams_completed = 0;  // ended by the server, faults included
        std::uint64_t streams_aborted = 0;    // chat requests the client left before the end
        std::uint64_t active = 0;             // chat requests being answered
    };

    void accept_all();
    void on_event(connection& c, std::uint32_t events);
    void on_timer(connection& c, std::int64_t deadline_ns);
    void read_input(connection& c);
    void process_input(connection& c);
    void handle_request(connection& c, const request_head& head, std::string_view body);
    void handle_get(connection& c, std::string_view path);
    void start_chat(connection& c, const request_head& head, std::string_view body);
    void tokenize(connection& c, std::string_view body);
    void set_health(connection& c, std::string_view body);
    void reply(connection& c, int status, std::string_view body, std::string_view type);
    void drive(connection& c);
    void end_job(connection& c);
    void flush(connection& c);
    void update_interest(connection& c);
    void abort_connection(connection& c);
    void close_connection(connection& c, bool reset);
    void bury();
    std::string stats_json() const;

    server_options options_;
    plan_defaults defaults_;
    int listen_fd_ = -1;
    bool accept_paused_ = false;
    std::int64_t ready_ns_;  // when /health stops answering "Loading model"
    event_loop loop_;
    std::unordered_map<std::uint64_t, std::unique_ptr<connection>> connections_;
    std::uint64_t next_id_;
    std::vector<std::uint64_t> ready_;      // connections whose job can go on at once
    std::vector<std::uint64_t> graveyard_;  // closed connections, freed after the iteration
    std::vector<char> read_buffer_;
    counters stats_;
    std::string last_request_;
    bool have_last_request_ = false;
    request_log requests_;
    int health_status_;  // what /health answers once loaded: 200 or 503
    std::uint64_t completions_ = 0;
};

}  // namespace llmb::mock
