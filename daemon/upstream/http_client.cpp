#include "daemon/upstream/http_client.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace llmb {

namespace {

// Certificates and keys for https://; verification stays on unless the config says insecure.
void apply_tls(CURL* e, const tls_config& t) {
    curl_easy_setopt(e, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!t.ca_file.empty())
        curl_easy_setopt(e, CURLOPT_CAINFO, t.ca_file.c_str());
    if (!t.ca_path.empty())
        curl_easy_setopt(e, CURLOPT_CAPATH, t.ca_path.c_str());
    if (!t.cert_file.empty()) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, t.cert_file.c_str());
        if (!t.key_file.empty())
            curl_easy_setopt(e, CURLOPT_SSLKEY, t.key_file.c_str());
        if (!t.key_password.empty())
            curl_easy_setopt(e, CURLOPT_KEYPASSWD, t.key_password.c_str());
    }
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, t.insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, t.insecure ? 0L : 2L);
}

}  // namespace

struct http_client::transfer {
    transfer_id id = 0;
    http_client* owner = nullptr;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string body;
    http_handler* handler = nullptr;  // null once detached (aborted or completed)
    long status = 0;
    bool pausable = false;
    bool paused = false;  // its write callback answered CURL_WRITEFUNC_PAUSE
    char error[CURL_ERROR_SIZE] = {};
};

http_client::http_client(event_loop& loop) : loop_(loop) {
    multi_ = curl_multi_init();
    if (multi_ == nullptr)
        throw std::runtime_error("curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &http_client::socket_cb);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &http_client::timer_cb);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 1024L);
}

http_client::~http_client() {
    for (auto& [id, t] : transfers_) {
        curl_multi_remove_handle(multi_, t->easy);
        curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
    }
    transfers_.clear();
    if (timer_ != 0)
        loop_.cancel_timer(timer_);
    curl_multi_cleanup(multi_);
}

http_client::transfer_id http_client::start(const http_request& req, http_handler& handler) {
    auto t = std::make_unique<transfer>();
    t->id = next_id_++;
    t->owner = this;
    t->handler = &handler;
    t->body = req.body;
    t->pausable = req.pausable;
    t->easy = curl_easy_init();
    if (t->easy == nullptr)
        throw std::runtime_error("curl_easy_init failed");
    CURL* e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &http_client::write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req.connect_timeout_ms);
    if (req.total_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req.total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // never ask for compressed streams
    apply_tls(e, req.tls != nullptr ? *req.tls : tls_config{});
    if (req.connect_only)
        curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    if (req.method == "POST") {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    t->headers = curl_slist_append(t->headers, "Expect:");  // no 100-continue round trip
    for (const auto& h : req.headers)
        t->headers = curl_slist_append(t->headers, h.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);

    const transfer_id id = t->id;
    transfer* raw = t.get();
    transfers_.emplace(id, std::move(t));
    if (in_callback_depth_ > 0) {
        // curl refuses handles added from inside its callbacks: add it right after.
        pending_add_.push_back(raw);
    } else if (curl_multi_add_handle(multi_, e) != CURLM_OK) {
        transfers_.erase(id);
        throw std::runtime_error("curl_multi_add_handle failed");
    }
    return id;
}

void http_client::abort(transfer_id id) {
    auto it = transfers_.find(id);
    if (it == transfers_.end())
        return;
    transfer* t = it->second.get();
    t->handler = nullptr;
    if (auto p = std::find(pending_add_.begin(), pending_add_.end(), t); p != pending_add_.end()) {
        pending_add_.erase(p);  // never added: nothing to remove from curl
        curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        transfers_.erase(it);
        return;
    }
    if (in_callback_depth_ > 0) {
        // curl forbids removing a handle from inside its callbacks: do it right after.
        pending_removal_.push_back(t);
        return;
    }
    release(t);
}

void http_client::release(transfer* t) {
    curl_multi_remove_handle(multi_, t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    transfers_.erase(t->id);
}

std::size_t http_client::write_cb(char* ptr, std::size_t size, std::size_t nmemb, void* userdata) {
    auto* t = static_cast<transfer*>(userdata);
    const std::size_t n = size * nmemb;
    if (t->handler == nullptr)
        return 0;  // aborted: make curl stop
    if (t->pausable && t->owner->paused_) {
        t->paused = true;  // curl keeps these bytes and hands them over again on resume
        return CURL_WRITEFUNC_PAUSE;
    }
    if (t->status == 0)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    if (!t->handler->on_data(t->status, std::string_view(ptr, n))) {
        t->handler = nullptr;
        return 0;
    }
    return t->handler == nullptr ? 0 : n;
}

void http_client::set_paused(bool paused) {
    if (paused == paused_)
        return;
    paused_ = paused;
    if (paused)
        return;  // each pausable transfer stops at its next write
    resumed_at_ = std::chrono::steady_clock::now();
    std::vector<transfer_id> held;
    for (const auto& [id, t] : transfers_) {
        if (t->paused)
            held.push_back(id);
    }
    // Resuming hands the kept bytes over at once, and their handlers may abort transfers or
    // pause again: look each one up afresh, and let removals wait until all are resumed.
    ++in_callback_depth_;
    for (transfer_id id : held) {
        auto it = transfers_.find(id);
        if (it == transfers_.end() || !it->second->paused || paused_)
            continue;
        it->second->paused = false;
        curl_easy_pause(it->second->easy, CURLPAUSE_CONT);
    }
    --in_callback_depth_;
    check_completed();
}

int http_client::socket_cb(CURL*, curl_socket_t s, int what, void* userp, void*) {
    auto* self = static_cast<http_client*>(userp);
    if (what == CURL_POLL_REMOVE) {
        self->loop_.unwatch(s);
        return 0;
    }
    std::uint32_t events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= EPOLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= EPOLLOUT;
    self->loop_.watch(s, events, [self, s](std::uint32_t ev) { self->on_socket(s, ev); });
    return 0;
}

int http_client::timer_cb(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<http_client*>(userp);
    if (self->timer_ != 0) {
        self->loop_.cancel_timer(self->timer_);
        self->timer_ = 0;
    }
    if (timeout_ms >= 0) {
        self->timer_ = self->loop_.add_timer(std::chrono::milliseconds(timeout_ms), [self] {
            self->timer_ = 0;
            self->on_timeout();
        });
    }
    return 0;
}

void http_client::on_socket(curl_socket_t s, std::uint32_t events) {
    int mask = 0;
    if (events & EPOLLIN)
        mask |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        mask |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        mask |= CURL_CSELECT_ERR;
    int running = 0;
    ++in_callback_depth_;
    curl_multi_socket_action(multi_, s, mask, &running);
    --in_callback_depth_;
    check_completed();
}

void http_client::on_timeout() {
    int running = 0;
    ++in_callback_depth_;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    --in_callback_depth_;
    check_completed();
}

void http_client::add_pending() {
    while (!pending_add_.empty()) {
        auto batch = std::move(pending_add_);
        pending_add_.clear();
        for (transfer* t : batch) {
            if (curl_multi_add_handle(multi_, t->easy) == CURLM_OK)
                continue;
            http_handler* h = t->handler;
            t->handler = nullptr;
            release(t);
            if (h != nullptr)
                h->on_complete(http_result{CURLE_FAILED_INIT, 0, "cannot start the transfer", 0});
        }
    }
}

void http_client::check_completed() {
    for (transfer* t : pending_removal_)
        release(t);
    pending_removal_.clear();
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        transfer* t = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
        if (t == nullptr)
            continue;
        const CURLcode result = msg->data.result;
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_off_t retry_after = 0;
        if (curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after) != CURLE_OK ||
            retry_after < 0)
            retry_after = 0;
        http_handler* h = t->handler;
        t->handler = nullptr;
        const std::string error_text =
            t->error[0] != '\0' ? std::string(t->error) : std::string(curl_easy_strerror(result));
        release(t);
        ++in_callback_depth_;  // handlers may start transfers: add them once we are done here
        if (h != nullptr)
            h->on_complete(http_result{
                result, status, error_text,
                static_cast<std::uint32_t>(std::min<curl_off_t>(retry_after, UINT32_MAX))});
        --in_callback_depth_;
    }
    for (transfer* t : pending_removal_)
        release(t);
    pending_removal_.clear();
    add_pending();
}

}  // namespace llmb
