// The mapping of an LLM server's failures to protocol errors (daemon/upstream/upstream_error),
// row by row: curl results, HTTP statuses and error bodies, and the other upstream failures.
#include "daemon/upstream/upstream_error.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using llmb::upstream_step;
using llmb::protocol::error_code;

struct row {
    const char* name;
    CURLcode result;
    long status;
    bool got_bytes;
    std::string body;
    upstream_step step;
    error_code code;
    std::string message;  // the whole message; empty with read_answer
    bool tls;
};

// Built inside a test case: reading the recorded bodies may fail a REQUIRE.
std::vector<row> rows() {
    const std::string llama_context_body = llmb::test::transcript_body("24_ctx_exceeded_stream");
    const std::string llama_parse_error_body = llmb::test::transcript_body("18_bad_invalid_json");
    const std::string openai_context_body =
        R"({"error":{"message":"This model's maximum context length is 8192 tokens","type":)"
        R"("invalid_request_error","param":"messages","code":"context_length_exceeded"}})";
    const std::string openai_rate_body =
        R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})";
    return {
        // 2xx: the answer is read, whatever came with it.
        {"HTTP 200", CURLE_OK, 200, true, "", upstream_step::read_answer, error_code::internal, "",
         false},
        {"HTTP 204", CURLE_OK, 204, false, "", upstream_step::read_answer, error_code::internal, "",
         false},
        // Not reached, nothing received: fail over (the error is for when nobody is left).
        {"connection refused", CURLE_COULDNT_CONNECT, 0, false, "", upstream_step::fail_over,
         error_code::upstream_unavailable,
         "cannot reach the LLM server (Connection refused); try again later", false},
        {"DNS", CURLE_COULDNT_RESOLVE_HOST, 0, false, "", upstream_step::fail_over,
         error_code::upstream_unavailable,
         "cannot reach the LLM server (Connection refused); try again later", false},
        {"proxy DNS", CURLE_COULDNT_RESOLVE_PROXY, 0, false, "", upstream_step::fail_over,
         error_code::upstream_unavailable,
         "cannot reach the LLM server (Connection refused); try again later", false},
        {"empty reply", CURLE_GOT_NOTHING, 0, false, "", upstream_step::fail_over,
         error_code::upstream_unavailable,
         "cannot reach the LLM server (Connection refused); try again later", false},
        // The same after bytes arrived: the answer broke off, no failover.
        {"refused after bytes", CURLE_GOT_NOTHING, 200, true, "", upstream_step::fail,
         error_code::upstream_error,
         "the connection to the LLM server broke off before the answer was finished "
         "(Connection refused)",
         false},
        // TLS before any byte: no failover, the words say what is wrong.
        {"certificate", CURLE_PEER_FAILED_VERIFICATION, 0, false, "", upstream_step::fail,
         error_code::upstream_unavailable,
         "the LLM server's certificate could not be verified (Connection refused)", true},
        {"CA file", CURLE_SSL_CACERT_BADFILE, 0, false, "", upstream_step::fail,
         error_code::upstream_unavailable,
         "the CA certificates to check the LLM server cannot be read (Connection refused)", true},
        {"client certificate", CURLE_SSL_CERTPROBLEM, 0, false, "", upstream_step::fail,
         error_code::upstream_unavailable,
         "the client certificate or key for the LLM server cannot be used (Connection refused)",
         true},
        {"client key", CURLE_SSL_CLIENTCERT, 0, false, "", upstream_step::fail,
         error_code::upstream_unavailable,
         "the client certificate or key for the LLM server cannot be used (Connection refused)",
         true},
        {"handshake", CURLE_SSL_CONNECT_ERROR, 0, false, "", upstream_step::fail,
         error_code::upstream_unavailable,
         "the TLS handshake with the LLM server failed (Connection refused)", true},
        {"cipher", CURLE_SSL_CIPHER, 0, false, "", upstream_step::fail,
         error_code::upstream_unavailable,
         "the TLS handshake with the LLM server failed (Connection refused)", true},
        {"pinned key", CURLE_SSL_PINNEDPUBKEYNOTMATCH, 0, false, "", upstream_step::fail,
         error_code::upstream_unavailable,
         "the TLS handshake with the LLM server failed (Connection refused)", true},
        {"TLS after bytes", CURLE_SSL_CONNECT_ERROR, 200, true, "", upstream_step::fail,
         error_code::upstream_error,
         "the connection to the LLM server broke off before the answer was finished "
         "(Connection refused)",
         false},
        // Timeouts, before or after the first byte.
        {"timeout", CURLE_OPERATION_TIMEDOUT, 0, false, "", upstream_step::fail,
         error_code::upstream_timeout, "the LLM server did not answer in time (Connection refused)",
         false},
        {"timeout mid-stream", CURLE_OPERATION_TIMEDOUT, 200, true, "", upstream_step::fail,
         error_code::upstream_timeout, "the LLM server did not answer in time (Connection refused)",
         false},
        // Anything else of curl: the answer broke off.
        {"recv error", CURLE_RECV_ERROR, 200, true, "", upstream_step::fail,
         error_code::upstream_error,
         "the connection to the LLM server broke off before the answer was finished "
         "(Connection refused)",
         false},
        {"partial file", CURLE_PARTIAL_FILE, 0, false, "", upstream_step::fail,
         error_code::upstream_error,
         "the connection to the LLM server broke off before the answer was finished "
         "(Connection refused)",
         false},
        // HTTP errors: upstream_error with the server's own words; none is retryable by a hint.
        {"llama-server 500", CURLE_OK, 500, true, llama_parse_error_body, upstream_step::fail,
         error_code::upstream_error,
         "the LLM server answered HTTP 500: [json.exception.parse_error.101] parse error at line "
         "1, column 74: syntax error while parsing object - unexpected end of input; expected '}'",
         false},
        {"503 without body", CURLE_OK, 503, true, "", upstream_step::fail,
         error_code::upstream_error, "the LLM server answered HTTP 503: HTTP 503", false},
        {"404 detail", CURLE_OK, 404, true, R"({"detail":"Not Found"})", upstream_step::fail,
         error_code::upstream_error, "the LLM server answered HTTP 404: Not Found", false},
        {"401 OpenAI-style", CURLE_OK, 401, true,
         R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}})",
         upstream_step::fail, error_code::upstream_error,
         "the LLM server answered HTTP 401: Incorrect API key provided", false},
        // 429 maps like any HTTP error today: no retry_after_ms from Retry-After.
        {"429", CURLE_OK, 429, true, openai_rate_body, upstream_step::fail,
         error_code::upstream_error, "the LLM server answered HTTP 429: Rate limit reached", false},
        // The prompt does not fit the context: a session may retry with less history.
        {"llama-server context", CURLE_OK, 400, true, llama_context_body,
         upstream_step::shorten_prompt, error_code::upstream_error,
         "the LLM server answered HTTP 400: request (2319 tokens) exceeds the available context "
         "size (512 tokens), try increasing it",
         false},
        {"OpenAI context", CURLE_OK, 400, true, openai_context_body, upstream_step::shorten_prompt,
         error_code::upstream_error,
         "the LLM server answered HTTP 400: This model's maximum context length is 8192 tokens",
         false},
        {"413 context", CURLE_OK, 413, true, openai_context_body, upstream_step::shorten_prompt,
         error_code::upstream_error,
         "the LLM server answered HTTP 413: This model's maximum context length is 8192 tokens",
         false},
        {"500 with a context type", CURLE_OK, 500, true, llama_context_body, upstream_step::fail,
         error_code::upstream_error,
         "the LLM server answered HTTP 500: request (2319 tokens) exceeds the available context "
         "size (512 tokens), try increasing it",
         false},
        {"400 other", CURLE_OK, 400, true,
         R"({"error":{"code":400,"message":"invalid temperature","type":"invalid_request_error"}})",
         upstream_step::fail, error_code::upstream_error,
         "the LLM server answered HTTP 400: invalid temperature", false},
    };
}

}  // namespace

TEST_CASE("upstream_error: every way a transfer ends, row by row") {
    for (const auto& r : rows()) {
        CAPTURE(r.name);
        const auto v = llmb::judge_transfer_end(
            {r.result, r.status, "Connection refused", r.got_bytes, r.body});
        CHECK(v.step == r.step);
        CHECK(v.tls == r.tls);
        if (r.step == upstream_step::read_answer) {
            CHECK(v.err.message.empty());
            continue;
        }
        CHECK(v.err.code == r.code);
        CHECK(v.err.message == r.message);
        CHECK_FALSE(v.err.retry_after_ms.has_value());
    }
}

TEST_CASE("upstream_error: TLS words only for TLS results") {
    CHECK(llmb::tls_failure_words(CURLE_SSL_ISSUER_ERROR, "the broker") ==
          "the TLS handshake with the broker failed");
    CHECK(llmb::tls_failure_words(CURLE_SSL_INVALIDCERTSTATUS, "x") ==
          "the TLS handshake with x failed");
    CHECK(llmb::tls_failure_words(CURLE_SSL_CRL_BADFILE, "x") == "the TLS handshake with x failed");
    CHECK(llmb::tls_failure_words(CURLE_OK, "x").empty());
    CHECK(llmb::tls_failure_words(CURLE_COULDNT_CONNECT, "x").empty());
    CHECK(llmb::tls_failure_words(CURLE_OPERATION_TIMEDOUT, "x").empty());
}

TEST_CASE("upstream_error: the other upstream failures") {
    namespace ue = llmb::upstream_errors;
    using namespace std::chrono_literals;
    struct other {
        const char* name;
        llmb::protocol::error err;
        error_code code;
        std::string message;
        std::optional<std::uint32_t> retry_after_ms;
    };
    const std::vector<other> table = {
        {"reported", ue::reported("model crashed"), error_code::upstream_error,
         "the LLM server reported an error: model crashed", std::nullopt},
        {"unreadable event", ue::unreadable_event("not JSON"), error_code::upstream_error,
         "the LLM server sent an unreadable stream event: not JSON", std::nullopt},
        {"unreadable answer", ue::unreadable_answer("no choices"), error_code::upstream_error,
         "the LLM server sent an unreadable answer: no choices", std::nullopt},
        {"event too large", ue::event_too_large(), error_code::upstream_error,
         "the LLM server sent a stream event larger than the bridge accepts", std::nullopt},
        {"answer too large", ue::answer_too_large(), error_code::upstream_error,
         "the LLM server's answer is larger than the bridge accepts", std::nullopt},
        {"cut short", ue::cut_short(), error_code::upstream_error,
         "the LLM server ended the stream before the answer was finished; try again", std::nullopt},
        {"unknown model", ue::no_backend("qwen", false), error_code::bad_request,
         "no LLM server serves the model 'qwen'", std::nullopt},
        {"none reachable", ue::no_backend("qwen", true), error_code::upstream_unavailable,
         "no LLM server for this request could be reached; try again later", std::nullopt},
        {"no free slot", ue::no_free_slot(), error_code::overloaded,
         "every LLM server slot and queue place for this model is taken; try again shortly", 1000},
        {"total", ue::total_timeout(600000ms), error_code::upstream_timeout,
         "the request took longer than 600000 ms", std::nullopt},
        {"first byte", ue::first_byte_timeout(1500ms), error_code::upstream_timeout,
         "the LLM server sent nothing within 1500 ms", std::nullopt},
        {"idle", ue::idle_timeout(250ms), error_code::upstream_timeout,
         "the LLM server stalled: nothing for 250 ms", std::nullopt},
    };
    for (const auto& o : table) {
        CAPTURE(o.name);
        CHECK(o.err.code == o.code);
        CHECK(o.err.message == o.message);
        CHECK(o.err.retry_after_ms == o.retry_after_ms);
    }
}

TEST_CASE("upstream_error: a server's refusal of the request itself is not retryable") {
    // The request as sent is refused again: a prompt over the context, a bad parameter, a
    // model the server lacks, a missing key.
    for (long status : {400L, 401L, 403L, 404L, 413L, 422L}) {
        CAPTURE(status);
        const auto v = llmb::judge_transfer_end({CURLE_OK, status, "", true, ""});
        CHECK(v.err.code == error_code::upstream_error);
        REQUIRE(v.err.retryable.has_value());
        CHECK_FALSE(*v.err.retryable);
        CHECK_FALSE(llmb::protocol::is_retryable(v.err));
    }
    // What passes keeps the code's retryable: a timeout, "too early", a rate limit, the
    // server's own failures, a broken transfer.
    for (long status : {408L, 425L, 429L, 500L, 502L, 503L}) {
        CAPTURE(status);
        const auto v = llmb::judge_transfer_end({CURLE_OK, status, "", true, ""});
        CHECK_FALSE(v.err.retryable.has_value());
        CHECK(llmb::protocol::is_retryable(v.err));
    }
    const auto broken = llmb::judge_transfer_end({CURLE_RECV_ERROR, 200, "reset", true, ""});
    CHECK(llmb::protocol::is_retryable(broken.err));
}

TEST_CASE("upstream_error: a rate limit's or an outage's Retry-After becomes retry_after_ms") {
    for (long status : {429L, 503L}) {
        CAPTURE(status);
        const auto v = llmb::judge_transfer_end({CURLE_OK, status, "", true, "", 2});
        REQUIRE(v.err.retry_after_ms.has_value());
        CHECK(*v.err.retry_after_ms == 2000);
        // Without the header the device is told nothing.
        CHECK_FALSE(llmb::judge_transfer_end({CURLE_OK, status, "", true, ""})
                        .err.retry_after_ms.has_value());
        // A far date is held to an hour.
        const auto far = llmb::judge_transfer_end({CURLE_OK, status, "", true, "", 86400});
        REQUIRE(far.err.retry_after_ms.has_value());
        CHECK(*far.err.retry_after_ms == 3600000);
    }
    // On other answers the header says nothing about this request.
    for (long status : {400L, 500L, 502L}) {
        CAPTURE(status);
        CHECK_FALSE(llmb::judge_transfer_end({CURLE_OK, status, "", true, "", 2})
                        .err.retry_after_ms.has_value());
    }
}
