// Output of `llm-mqtt ask`: answer text on stdout as it arrives, reasoning, status, the summary
// line and errors on stderr, or every event as a JSON line.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace llmb::cli {

struct printer_options {
    bool json_output = false;  // one JSON line per event on stdout instead of text
    bool quiet = false;        // no summary line
    bool verbose = false;      // start and status events on stderr
    bool out_tty = false;      // stdout is a terminal: end the text with a newline
    bool err_tty = false;      // stderr is a terminal: dim the reasoning text
};

class event_printer {
public:
    event_printer(std::FILE* out, std::FILE* err, printer_options opt);

    // Prints one reassembled event (types it does not know are skipped).
    void print(const nlohmann::json& ev);

    // A line of our own on stderr (cancelling, violations, timeouts), after the text so far.
    void note(const std::string& line);

    // Ends the text with a newline when stdout is a terminal and the text did not.
    void finish_text();

private:
    void write_out(const std::string& s);
    void write_err(const std::string& s);
    void end_reasoning();
    void print_tool_calls(const nlohmann::json& calls);

    std::FILE* out_;
    std::FILE* err_;
    printer_options opt_;
    bool out_open_line_ = false;  // stdout's last byte written was not a newline
    bool in_reasoning_ = false;   // reasoning text is running on stderr
    bool err_open_line_ = false;  // stderr's last byte written was not a newline
};

// "[stop · 12 chunks · 58 bytes · 14 tokens · ttft 12 ms · 95.1 tok/s · 410 ms]"; parts the
// done event leaves null or out are left out.
std::string format_summary(const nlohmann::json& done);

// "error: <code>: <message>", with the retry delay when the event gives one.
std::string format_error(const nlohmann::json& error_event);

}  // namespace llmb::cli
