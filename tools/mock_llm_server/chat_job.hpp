// One chat completion being answered on a connection: waits for its time-to-first-byte and token
// delays, writes the response head, the SSE events or the whole body, and strikes its fault.
// Knows nothing of sockets: it appends bytes and says what it needs next.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "completion_format.hpp"
#include "plan.hpp"

namespace llmb::mock {

struct job_action {
    enum class kind {
        wait_until,  // call advance again at deadline_ns
        run_again,   // more is ready at once: call advance again once the output is sent
        finished,    // the response is complete; the connection may serve the next request
        close,       // send the output, then close the connection (FIN)
        reset,       // send the output, then reset the connection (RST)
        stall,       // nothing more will ever be sent; wait for the client to go away
    };
    kind what = kind::finished;
    std::int64_t deadline_ns = 0;
};

class chat_job {
public:
    // start_ns: when the request arrived (monotonic clock).
    chat_job(chat_plan plan, completion_meta meta, bool keep_alive, std::int64_t start_ns);

    job_action advance(std::string& out, std::int64_t now_ns);

    // True once an event-stream response head was written.
    bool stream_started() const noexcept { return stream_start_ns_ >= 0; }

    // At delay 0, advance stops adding events once out holds this many bytes.
    static constexpr std::size_t batch_bytes = 32 * 1024;

private:
    enum class phase { waiting, streaming, stalled, ended };

    job_action respond(std::string& out, std::int64_t now_ns);
    job_action respond_whole(std::string& out, std::int64_t now_ns);
    job_action begin_stream(std::string& out, std::int64_t now_ns);
    // Writes the next event; returns true when the job needs nothing more of the stream loop
    // (action then says what), false when it can go on.
    bool step(std::string& out, std::int64_t now_ns, job_action& action);
    bool strike_fault(std::string& out, job_action& action);
    void end_stream(std::string& out, std::int64_t now_ns);
    void send_event(std::string& out);
    timings make_timings(std::int64_t now_ns) const;

    chat_plan plan_;
    completion_meta meta_;
    chunk_formatter format_;
    bool keep_alive_;
    std::int64_t start_ns_;
    std::int64_t stream_start_ns_ = -1;
    std::int64_t next_ns_ = 0;  // when the next event is due (delay > 0)
    std::size_t next_ = 0;      // next piece of the answer
    bool fault_pending_ = false;
    phase phase_ = phase::waiting;
    std::string event_;  // scratch: the event being framed
    std::string stamped_;  // scratch: a stamped delta text
};

}  // namespace llmb::mock
