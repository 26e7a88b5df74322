// Why a TLS connection to the broker failed. Paho reports a failed handshake as "no connection"
// only (its error handler is unusable, see mqtt_link::apply_tls); a second handshake by another
// TLS client with the same settings says what is wrong: an unknown CA, a certificate for another
// host, an unusable key, a broker that wants a client certificate.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "daemon/config/tls_config.hpp"

namespace llmb {

class event_loop;
class http_client;

// What mqtt_link asks after a TLS connect got no answer: an interface, so that the MQTT side
// does not depend on the HTTP client that does the check.
class tls_diagnosis {
public:
    using done_handler = std::function<void(std::string why)>;
    virtual ~tls_diagnosis() = default;
    // Checks the handshake with the broker at uri (ssl://host:port) whose connect failed with
    // the client library's code rc. done gets the words for the log later, on the loop, unless
    // cancel() came first. False when no check could start: done is not called.
    virtual bool start(const std::string& uri, const tls_config& tls, int rc,
                       done_handler done) = 0;
    // Stops a check under way (no-op without one); done is not called.
    virtual void cancel() noexcept = 0;
};

// The handshake once more by libcurl (a connect-only transfer), one check at a time.
class curl_tls_diagnosis final : public tls_diagnosis {
public:
    curl_tls_diagnosis(event_loop& loop, http_client& http);
    ~curl_tls_diagnosis() override;
    curl_tls_diagnosis(const curl_tls_diagnosis&) = delete;
    curl_tls_diagnosis& operator=(const curl_tls_diagnosis&) = delete;

    bool start(const std::string& uri, const tls_config& tls, int rc, done_handler done) override;
    void cancel() noexcept override;

private:
    class check;
    event_loop& loop_;
    http_client& http_;
    std::unique_ptr<check> check_;  // the check under way
};

}  // namespace llmb
