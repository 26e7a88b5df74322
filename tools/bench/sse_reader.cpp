#include "sse_reader.hpp"

#include <curl/curl.h>

#include <memory>
#include <stdexcept>
#include <string_view>

#include "measure.hpp"

namespace llmb::bench {

double sse_result::deltas_per_s() const {
    const auto span = last_ns - first_ns;
    return span > 0 ? static_cast<double>(deltas) * 1e9 / static_cast<double>(span) : 0.0;
}

namespace {

struct transfer {
    sse_result* result = nullptr;
    std::string carry;  // an unfinished stamp at the end of the last read
};

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
    auto& t = *static_cast<transfer*>(user);
    const std::int64_t now = realtime_ns();
    auto& r = *t.result;
    // A stamp is short; one cut by a read boundary is completed from the carried tail.
    std::string_view chunk(data, size * n);
    std::string joined;
    if (!t.carry.empty()) {
        joined = t.carry;
        joined.append(chunk);
        chunk = joined;
    }
    const std::size_t found =
        for_each_stamp(chunk, [&](std::int64_t at) { r.latencies.push_back(now - at); });
    if (found > 0) {
        if (r.first_ns == 0) {
            r.first_ns = now;
        }
        r.last_ns = now;
        r.deltas += found;
    }
    const std::size_t at = chunk.rfind('@');
    t.carry = at != std::string_view::npos && chunk.find(';', at) == std::string_view::npos
                  ? std::string(chunk.substr(at))
                  : std::string();
    return size * n;
}

// The chat request for `tokens` stamped tokens delay_us apart (0: at full speed).
std::string chat_body(std::size_t tokens, std::int64_t delay_us) {
    return "{\"model\":\"bench\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
           "\"#mock stamp tokens=" +
           std::to_string(tokens) + (delay_us > 0 ? " delay_us=" + std::to_string(delay_us) : "") +
           "\"}]}";
}

}  // namespace

sse_result read_streams(const std::string& base_url, std::size_t streams, std::size_t tokens,
                        std::int64_t delay_us, std::chrono::milliseconds timeout) {
    sse_result result;
    result.latencies.reserve(streams * tokens);
    const std::string url = base_url + "/v1/chat/completions";
    const std::string body = chat_body(tokens, delay_us);

    CURLM* multi = curl_multi_init();
    if (multi == nullptr) {
        throw std::runtime_error("curl_multi_init failed");
    }
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    std::vector<transfer> transfers(streams);
    std::vector<CURL*> easies;
    for (auto& t : transfers) {
        t.result = &result;
        CURL* e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url.c_str());
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
        curl_multi_add_handle(multi, e);
        easies.push_back(e);
    }
    int running = 1;
    while (running > 0) {
        curl_multi_perform(multi, &running);
        if (running > 0) {
            curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
        }
    }
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &queued)) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        long status = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (m->data.result != CURLE_OK || status != 200) {
            ++result.failed;
        }
    }
    for (CURL* e : easies) {
        curl_multi_remove_handle(multi, e);
        curl_easy_cleanup(e);
    }
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
    return result;
}

std::vector<std::int64_t> first_token_times(const std::string& base_url, std::size_t requests,
                                            std::size_t tokens, std::int64_t delay_us) {
    const std::string url = base_url + "/v1/chat/completions";
    const std::string body = chat_body(tokens, delay_us);
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), curl_easy_cleanup);
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
        curl_slist_append(nullptr, "Content-Type: application/json"), curl_slist_free_all);
    if (!easy || !headers) {
        throw std::runtime_error("curl_easy_init failed");
    }
    CURL* e = easy.get();
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30'000L);
    std::vector<std::int64_t> times;
    times.reserve(requests);
    for (std::size_t i = 0; i < requests; ++i) {
        sse_result r;
        transfer t;
        t.result = &r;
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
        const std::int64_t sent = realtime_ns();
        const CURLcode rc = curl_easy_perform(e);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200 || r.deltas != tokens) {
            throw std::runtime_error(
                "direct request " + std::to_string(i) + " failed: " + curl_easy_strerror(rc) +
                ", HTTP " + std::to_string(status) + ", " + std::to_string(r.deltas) + " deltas");
        }
        times.push_back(r.first_ns - sent);
    }
    return times;
}

}  // namespace llmb::bench
