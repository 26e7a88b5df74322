// Incremental Server-Sent Events parser: takes bytes exactly as they arrive from the socket.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace llmb::protocol {

struct sse_event {
    std::string event;  // "event:" field (empty when absent)
    std::string data;   // "data:" lines joined with '\n'
    std::string error;  // "error:" lines (llama.cpp before late 2025 sent `error: {...}`)
};

// Handles lines split across reads, CRLF, LF or lone CR line ends (a CR at the end of one read
// followed by LF at the start of the next is one line end), ':' comment lines, "data:" with or
// without one leading space, multi-line data, a UTF-8 BOM at the very start. An event is
// dispatched at a blank line when it has data or error. Lines and events are bounded: past
// max_event_bytes the parser enters a failed state and ignores further input.
class sse_parser {
public:
    explicit sse_parser(std::size_t max_event_bytes = 16 * 1024 * 1024);

    // Appends the complete events in bytes to out. Returns false once failed().
    bool feed(std::string_view bytes, std::vector<sse_event>& out);

    bool failed() const noexcept { return failed_; }
    // Bytes held for an event that has not ended yet (a stream that stops here was cut off).
    bool has_partial() const noexcept;

private:
    void process_line(std::string_view line, std::vector<sse_event>& out);

    std::size_t max_event_bytes_;
    std::string line_;   // partial line carried across feeds
    sse_event current_;  // fields of the event being read
    bool has_data_ = false;
    bool has_error_ = false;
    bool pending_cr_ = false;  // last feed ended with CR: skip a leading LF
    bool at_start_ = true;     // BOM check
    bool failed_ = false;
};

}  // namespace llmb::protocol
