// One client connection: its buffers, its place in the request/response cycle, and the chat job
// answering on it. Owned by the server.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "chat_job.hpp"
#include "http_request.hpp"

namespace llmb::mock {

struct connection {
    ~connection() {
        if (fd >= 0) {
            ::close(fd);
        }
    }

    std::size_t unsent() const noexcept { return out.size() - out_sent; }

    int fd = -1;
    std::uint64_t id = 0;
    std::string in;
    std::size_t in_used = 0;           // bytes of in already consumed
    std::size_t head_scan = 0;         // bytes after in_used searched for the end of a head
    std::optional<request_head> head;  // a head whose body has not fully arrived
    bool continue_sent = false;
    std::string out;
    std::size_t out_sent = 0;
    std::uint32_t interest = 0;  // the epoll events registered
    bool reading = true;         // wants EPOLLIN
    bool eof = false;            // the client shut down its side
    bool writing = false;        // output is blocked: wants EPOLLOUT
    bool keep_alive = true;      // of the request being answered
    bool close_after_write = false;
    bool reset_after_write = false;
    bool dead = false;
    bool in_process = false;  // process_input is on the stack
    std::unique_ptr<chat_job> job;
    bool stream_counted = false;
    bool run_when_drained = false;  // the job goes on once the output is sent
    bool queued = false;            // in ready_
    std::int64_t timer_ns = -1;     // deadline of the job's live timer
};

}  // namespace llmb::mock
