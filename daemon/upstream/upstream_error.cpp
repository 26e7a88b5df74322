#include "daemon/upstream/upstream_error.hpp"

#include <algorithm>

#include "daemon/sessions/session_turn.hpp"
#include "protocol/openai.hpp"

namespace llmb {

using protocol::error_code;

std::string tls_failure_words(CURLcode result, std::string_view peer) {
    const std::string who(peer);
    switch (result) {
        case CURLE_PEER_FAILED_VERIFICATION:
            return who + "'s certificate could not be verified";
        case CURLE_SSL_CACERT_BADFILE:
            return "the CA certificates to check " + who + " cannot be read";
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CLIENTCERT:
            return "the client certificate or key for " + who + " cannot be used";
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CRL_BADFILE:
            return "the TLS handshake with " + who + " failed";
        default:
            return {};
    }
}

namespace {

bool is_success(long status) {
    return status >= 200 && status < 300;
}

// Failures that mean the server was never reached: nothing of the request got through.
bool unreachable(CURLcode result) {
    return result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST ||
           result == CURLE_COULDNT_RESOLVE_PROXY || result == CURLE_GOT_NOTHING;
}

upstream_verdict transport_failure(const transfer_end& end) {
    const std::string text(end.error_text);
    if (!end.got_bytes) {
        // A certificate or key problem is not cured by trying again: say what it is.
        const auto tls = tls_failure_words(end.result, "the LLM server");
        if (!tls.empty()) {
            return {upstream_step::fail,
                    {error_code::upstream_unavailable, tls + " (" + text + ")", std::nullopt},
                    true};
        }
        if (unreachable(end.result)) {
            return {upstream_step::fail_over,
                    {error_code::upstream_unavailable,
                     "cannot reach the LLM server (" + text + "); try again later", std::nullopt},
                    false};
        }
    }
    if (end.result == CURLE_OPERATION_TIMEDOUT) {
        return {upstream_step::fail,
                {error_code::upstream_timeout,
                 "the LLM server did not answer in time (" + text + ")", std::nullopt},
                false};
    }
    return {
        upstream_step::fail,
        {error_code::upstream_error,
         "the connection to the LLM server broke off before the answer was finished (" + text + ")",
         std::nullopt},
        false};
}

}  // namespace

upstream_verdict judge_transfer_end(const transfer_end& end) {
    if (end.result != CURLE_OK)
        return transport_failure(end);
    if (is_success(end.http_status))
        return {upstream_step::read_answer, {}, false};
    protocol::error err{error_code::upstream_error,
                        "the LLM server answered HTTP " + std::to_string(end.http_status) + ": " +
                            protocol::decode_error_body(end.http_status, end.body),
                        std::nullopt};
    // A 4xx is the server refusing this request (a prompt over its context, a parameter it
    // rejects, a model it does not have, a missing key): sent again, it is refused again.
    // Except a timeout (408), "too early" (425) and a rate limit (429), which pass.
    const long s = end.http_status;
    if (s >= 400 && s < 500 && s != 408 && s != 425 && s != 429)
        err.retryable = false;
    // A rate limit or a server that is down for a while may say when to come back: the device
    // hears it (at most an hour, past which a date in the header is more likely wrong).
    if ((s == 429 || s == 503) && end.retry_after_s != 0)
        err.retry_after_ms = std::min<std::uint32_t>(end.retry_after_s, 3600) * 1000;
    const auto step = context_exceeded(end.http_status, end.body) ? upstream_step::shorten_prompt
                                                                  : upstream_step::fail;
    return {step, std::move(err), false};
}

namespace upstream_errors {

protocol::error reported(std::string_view what) {
    return {error_code::upstream_error, "the LLM server reported an error: " + std::string(what),
            std::nullopt};
}

protocol::error unreadable_event(std::string_view what) {
    return {error_code::upstream_error,
            "the LLM server sent an unreadable stream event: " + std::string(what), std::nullopt};
}

protocol::error unreadable_answer(std::string_view what) {
    return {error_code::upstream_error,
            "the LLM server sent an unreadable answer: " + std::string(what), std::nullopt};
}

protocol::error event_too_large() {
    return {error_code::upstream_error,
            "the LLM server sent a stream event larger than the bridge accepts", std::nullopt};
}

protocol::error answer_too_large() {
    return {error_code::upstream_error, "the LLM server's answer is larger than the bridge accepts",
            std::nullopt};
}

protocol::error cut_short() {
    return {error_code::upstream_error,
            "the LLM server ended the stream before the answer was finished; try again",
            std::nullopt};
}

protocol::error no_backend(std::string_view model, bool any_tried) {
    if (any_tried) {
        return {error_code::upstream_unavailable,
                "no LLM server for this request could be reached; try again later", std::nullopt};
    }
    return {error_code::bad_request, "no LLM server serves the model '" + std::string(model) + "'",
            std::nullopt};
}

protocol::error no_free_slot() {
    return {error_code::overloaded,
            "every LLM server slot and queue place for this model is taken; try again shortly",
            1000};
}

protocol::error total_timeout(std::chrono::milliseconds limit) {
    return {error_code::upstream_timeout,
            "the request took longer than " + std::to_string(limit.count()) + " ms", std::nullopt};
}

protocol::error first_byte_timeout(std::chrono::milliseconds limit) {
    return {error_code::upstream_timeout,
            "the LLM server sent nothing within " + std::to_string(limit.count()) + " ms",
            std::nullopt};
}

protocol::error idle_timeout(std::chrono::milliseconds limit) {
    return {error_code::upstream_timeout,
            "the LLM server stalled: nothing for " + std::to_string(limit.count()) + " ms",
            std::nullopt};
}

}  // namespace upstream_errors

}  // namespace llmb
