// Upstream HTTP transfers on one libcurl multi handle, driven by the event loop
// (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION): no thread per request, no blocking calls.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/config/tls_config.hpp"
#include "daemon/service/event_loop.hpp"

namespace llmb {

struct http_request {
    std::string url;
    std::string method = "POST";  // POST with body, or GET
    std::string body;
    std::vector<std::string> headers;  // "Name: value"
    long connect_timeout_ms = 5000;
    long total_timeout_ms = 0;  // 0: none
    // TLS settings for https:// URLs (the backend's); null: verify against the system store.
    const tls_config* tls = nullptr;
    bool connect_only = false;  // only connect (and the TLS handshake): a check, no request
    // Held back by set_paused(true): a streamed answer, whose bytes would only pile up while
    // they cannot be sent on. Health probes and checks are never held back.
    bool pausable = false;
};

// How a transfer ended.
struct http_result {
    CURLcode code = CURLE_OK;     // CURLE_OK or the error
    long status = 0;              // the HTTP status (0: no answer)
    std::string_view error_text;  // curl's words for the error
    // The answer's Retry-After (seconds, or a date made seconds from now); 0 when it had none.
    std::uint32_t retry_after_s = 0;
};

// What the owner of a transfer hears. on_data returns false when the owner no longer wants the
// transfer: it is then aborted and nothing more is called.
struct http_handler {
    virtual ~http_handler() = default;
    virtual bool on_data(long http_status, std::string_view bytes) = 0;
    virtual void on_complete(const http_result& result) = 0;  // the transfer ended
};

class http_client {
public:
    using transfer_id = std::uint64_t;

    explicit http_client(event_loop& loop);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    // Starts a transfer; handler must stay alive until on_complete or abort().
    transfer_id start(const http_request& req, http_handler& handler);
    // Aborts a running transfer at once; its handler is not called again. Safe from callbacks.
    void abort(transfer_id id);

    // Backpressure: while paused, pausable transfers receive nothing (curl stops reading their
    // sockets, so the servers' writes block); set_paused(false) lets them go on. Not from
    // inside a curl callback.
    void set_paused(bool paused);
    bool paused() const noexcept { return paused_; }
    // When the last pause ended (the epoch when there was none): time before it does not count
    // as a server's silence.
    std::chrono::steady_clock::time_point resumed_at() const noexcept { return resumed_at_; }

private:
    struct transfer;
    static int socket_cb(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
    static int timer_cb(CURLM* multi, long timeout_ms, void* userp);
    static std::size_t write_cb(char* ptr, std::size_t size, std::size_t nmemb, void* userdata);
    void on_socket(curl_socket_t s, std::uint32_t events);
    void on_timeout();
    void check_completed();
    void release(transfer* t);
    void add_pending();

    event_loop& loop_;
    CURLM* multi_ = nullptr;
    event_loop::timer_id timer_ = 0;
    transfer_id next_id_ = 1;
    std::unordered_map<transfer_id, std::unique_ptr<transfer>> transfers_;
    int in_callback_depth_ = 0;
    std::vector<transfer*> pending_removal_;
    std::vector<transfer*> pending_add_;  // started from inside a curl callback
    bool paused_ = false;
    std::chrono::steady_clock::time_point resumed_at_{};
};

}  // namespace llmb
