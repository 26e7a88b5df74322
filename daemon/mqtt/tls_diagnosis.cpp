#include "daemon/mqtt/tls_diagnosis.hpp"

#include <utility>

#include "daemon/service/event_loop.hpp"
#include "daemon/upstream/http_client.hpp"
#include "daemon/upstream/upstream_error.hpp"

namespace llmb {

namespace {
// ssl://host:port as the URL of a TLS handshake check.
std::string check_url(const std::string& uri) {
    return "https://" + uri.substr(uri.find("://") + 3) + "/";
}
}  // namespace

class curl_tls_diagnosis::check final : public http_handler {
public:
    check(curl_tls_diagnosis& owner, const tls_config& tls, int rc, done_handler done)
        : owner_(owner), tls_(tls), rc_(rc), done_(std::move(done)) {}
    http_client::transfer_id id = 0;
    const tls_config& tls() const noexcept { return tls_; }

    bool on_data(long, std::string_view) override { return true; }
    void on_complete(const http_result& r) override {
        const CURLcode result = r.code;
        const std::string_view error_text = r.error_text;
        std::string why;
        if (const auto words = tls_failure_words(result, "the broker"); !words.empty()) {
            why = "TLS: " + words + " (" + std::string(error_text) + ")";
        } else if (result != CURLE_OK) {
            why = "no connection (" + std::string(error_text) + ")";
        } else {
            why = "the broker closed the connection after the TLS handshake (code " +
                  std::to_string(rc_) + ")";
            if (tls_.cert_file.empty())
                why += "; does it want a client certificate (tls.cert_file)?";
        }
        // This object is inside libcurl's callback: it goes once the callback has returned.
        auto done = std::move(done_);
        owner_.loop_.defer([holder = std::shared_ptr<check>(std::move(owner_.check_))] {});
        done(std::move(why));
    }

private:
    curl_tls_diagnosis& owner_;
    tls_config tls_;  // kept for the transfer
    int rc_;
    done_handler done_;
};

curl_tls_diagnosis::curl_tls_diagnosis(event_loop& loop, http_client& http)
    : loop_(loop), http_(http) {}

curl_tls_diagnosis::~curl_tls_diagnosis() {
    cancel();
}

bool curl_tls_diagnosis::start(const std::string& uri, const tls_config& tls, int rc,
                               done_handler done) {
    cancel();
    check_ = std::make_unique<check>(*this, tls, rc, std::move(done));
    http_request req;
    req.url = check_url(uri);
    req.method = "GET";
    req.connect_only = true;
    req.tls = &check_->tls();
    try {
        check_->id = http_.start(req, *check_);
        return true;
    } catch (const std::exception&) {
        check_.reset();
        return false;
    }
}

void curl_tls_diagnosis::cancel() noexcept {
    if (!check_)
        return;
    http_.abort(check_->id);
    check_.reset();
}

}  // namespace llmb
