#include "daemon/upstream/http_health_prober.hpp"

namespace llmb {

// One probe: waiting for its timer, then its GET /health in flight.
class http_health_prober::probe final : public http_handler {
public:
    probe(backend_config cfg, result_handler on_done)
        : backend(std::move(cfg)), done(std::move(on_done)) {}
    backend_config backend;
    result_handler done;
    event_loop::timer_id timer = 0;
    http_client::transfer_id transfer = 0;
    bool in_flight = false;
    http_health_prober* owner = nullptr;
    probe_id id = 0;

    bool on_data(long, std::string_view) override { return true; }
    void on_complete(CURLcode result, long status, std::string_view error_text) override {
        const bool ok = result == CURLE_OK && status >= 200 && status < 300;
        const std::string why =
            result != CURLE_OK ? std::string(error_text) : "HTTP " + std::to_string(status);
        // Called from inside the HTTP client: the probe is destroyed once the callback returned.
        auto self = std::move(owner->probes_.at(id));
        owner->probes_.erase(id);
        in_flight = false;
        owner->loop_.defer([holder = std::shared_ptr<probe>(std::move(self))] {});
        done(ok, why);
    }
};

http_health_prober::http_health_prober(event_loop& loop, http_client& http)
    : loop_(loop), http_(http) {}

http_health_prober::~http_health_prober() {
    for (auto& [id, p] : probes_) {
        if (p->timer != 0)
            loop_.cancel_timer(p->timer);
        if (p->in_flight)
            http_.abort(p->transfer);
    }
}

health_prober::probe_id http_health_prober::schedule(const backend_config& backend,
                                                     result_handler done) {
    const probe_id id = next_id_++;
    auto p = std::make_unique<probe>(backend, std::move(done));
    p->owner = this;
    p->id = id;
    p->timer = loop_.add_timer(backend.health_interval, [this, id] { run(id); });
    probes_.emplace(id, std::move(p));
    return id;
}

void http_health_prober::run(probe_id id) {
    const auto it = probes_.find(id);
    if (it == probes_.end())
        return;
    auto& p = *it->second;
    p.timer = 0;
    http_request req;
    req.url = p.backend.url + "/health";
    req.method = "GET";
    req.connect_timeout_ms = 2000;
    req.total_timeout_ms = 5000;
    if (!p.backend.api_key.empty())
        req.headers.push_back("Authorization: Bearer " + p.backend.api_key);
    req.tls = &p.backend.tls;
    p.transfer = http_.start(req, p);
    p.in_flight = true;
}

void http_health_prober::cancel(probe_id id) {
    const auto it = probes_.find(id);
    if (it == probes_.end())
        return;
    auto& p = *it->second;
    if (p.timer != 0)
        loop_.cancel_timer(p.timer);
    if (p.in_flight)
        http_.abort(p.transfer);
    probes_.erase(it);
}

}  // namespace llmb
