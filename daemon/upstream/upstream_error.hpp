// What a failed exchange with an LLM server becomes: which protocol error (code, message,
// retry_after_ms) a curl result, an HTTP status or an answer body maps to, and what the request
// does about it (fail over, retry with less history, end). Pure: no transfers, no logging, so
// that every row of the mapping is unit-tested.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/error.hpp"

namespace llmb {

// Plain words for a TLS failure with peer ("the LLM server"): "the LLM server's certificate
// could not be verified"; empty when result is not about TLS.
std::string tls_failure_words(CURLcode result, std::string_view peer);

// How a transfer to an LLM server ended.
struct transfer_end {
    CURLcode result = CURLE_OK;
    long http_status = 0;
    std::string_view error_text;      // curl's words for a failed result
    bool got_bytes = false;           // some of the answer had arrived
    std::string_view body;            // the body of a non-2xx answer (bounded)
    std::uint32_t retry_after_s = 0;  // the answer's Retry-After; 0: none
};

// What the request does next.
enum class upstream_step {
    read_answer,     // a 2xx answer: read what the server streamed or sent whole
    fail_over,       // not reached, nothing received: the next backend for the model may take
                     // over; err when there is none to ask
    shorten_prompt,  // HTTP 400/413 "prompt too long for the context": a session may retry with
                     // less history; err when it cannot
    fail,            // end the request with err
};

struct upstream_verdict {
    upstream_step step = upstream_step::fail;
    protocol::error err;  // empty message with read_answer
    bool tls = false;     // a TLS failure: worth a warning in the log
};

upstream_verdict judge_transfer_end(const transfer_end& end);

// The other ways a request to an LLM server fails, each as the error the device gets.
namespace upstream_errors {

protocol::error reported(std::string_view what);  // an error the server sent in its answer
protocol::error unreadable_event(std::string_view what);
protocol::error unreadable_answer(std::string_view what);
protocol::error event_too_large();
protocol::error answer_too_large();
protocol::error cut_short();  // the stream ended without a finish reason
// No backend serves the model (any_tried false), or none that does could be reached.
protocol::error no_backend(std::string_view model, bool any_tried);
protocol::error no_free_slot();
protocol::error total_timeout(std::chrono::milliseconds limit);
protocol::error first_byte_timeout(std::chrono::milliseconds limit);
protocol::error idle_timeout(std::chrono::milliseconds limit);

}  // namespace upstream_errors

}  // namespace llmb
