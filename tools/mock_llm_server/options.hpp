// Command line of mock-llm-server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace llmb::mock {

struct server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;            // 0: an ephemeral port
    std::string model = "mock-model";  // the default model: the first of models if given
    std::vector<std::string> models;   // --models: the only names a request may use
    std::size_t tokens = 16;
    std::int64_t delay_ns = 0;    // between tokens
    std::int64_t loading_ns = 0;  // /health answers 503 this long after start
    std::string api_key;          // empty: no authentication
    std::size_t ctx = 0;          // context size in tokens; 0: unlimited
    bool fail_health = false;     // /health starts answering 503
    std::uint32_t slots = 0;      // GET /props reports this total_slots; 0: no /props (404)
    std::string answer;           // not empty: this text instead of the word list
};

struct parsed_options {
    std::optional<server_options> options;  // empty when the program should exit
    int exit_code = 0;                      // then: 0 after --help, 2 after an error
};

// Parses argv; prints --help to stdout and errors to stderr.
parsed_options parse_options(int argc, char** argv);

}  // namespace llmb::mock
