// What `llm-mqtt watch` prints: every response stream under a prefix, reassembled (frags joined,
// duplicates dropped, early messages held), several streams interleaved readably.
//
// Every line belongs to one request and starts with its label "[client/id]". The text of a
// stream runs on as it arrives while no other stream speaks; when another one does, the line
// ends and the other stream's line begins. A newline in the text starts a new labelled line.
// Start, status, tool calls and the closing summary are lines of their own; protocol violations
// go to the error stream.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "protocol/response_assembler.hpp"

namespace llmb::cli {

class watch_view {
public:
    watch_view(std::FILE* out, std::FILE* err);

    // One message of {prefix}/response/{client}/{id}. True when it ended that request.
    bool feed(std::string_view client, std::string_view id, std::string_view payload);
    // Ends a text line left open (before leaving).
    void close();

    std::size_t open_streams() const noexcept { return streams_.size(); }

private:
    struct stream {
        protocol::response_assembler assembler;
        std::size_t delivered = 0;  // events printed
        std::size_t violations_shown = 0;
    };

    void print(const std::string& label, const nlohmann::json& ev);
    void text(const std::string& label, std::string_view s, bool reasoning);
    void line(const std::string& label, const std::string& s);
    void end_text_line();
    void write(std::FILE* f, std::string_view s);
    void forget(const std::string& label);

    std::FILE* out_;
    std::FILE* err_;
    std::map<std::string, stream> streams_;  // by label, until the terminal event
    // Recently finished labels: their late duplicates are ignored (bounded).
    std::set<std::string> finished_;
    std::deque<std::string> finished_order_;
    // The stream whose text line is open.
    std::string open_label_;
    bool open_reasoning_ = false;
    bool at_line_start_ = true;
};

}  // namespace llmb::cli
