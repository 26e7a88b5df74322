#include "daemon/upstream/http_health_prober.hpp"

#include "daemon/upstream/server_props.hpp"

namespace llmb {

namespace {

// A /props answer is a few KiB (llama-server adds its chat template); more is not one.
constexpr std::size_t max_props_bytes = 1 << 20;

}  // namespace

// One probe: waiting for its timer, then its GET /health in flight, then (when the backend's
// slots are not configured and /health was good, or when only /props is asked) its GET /props.
class http_health_prober::probe final : public http_handler {
public:
    probe(backend_config cfg, result_handler on_done, slots_handler on_slots)
        : backend(std::move(cfg)), done(std::move(on_done)), slots_done(std::move(on_slots)) {}
    backend_config backend;
    result_handler done;       // a health probe
    slots_handler slots_done;  // a read of /props alone
    event_loop::timer_id timer = 0;
    http_client::transfer_id transfer = 0;
    bool in_flight = false;
    bool reading_props = false;
    probe_result result;
    std::string props_body;
    http_health_prober* owner = nullptr;
    probe_id id = 0;

    bool on_data(long, std::string_view bytes) override {
        if (reading_props && props_body.size() + bytes.size() <= max_props_bytes)
            props_body.append(bytes);
        return true;
    }
    void on_complete(const http_result& r) override {
        const CURLcode code = r.code;
        const long status = r.status;
        const std::string_view error_text = r.error_text;
        in_flight = false;
        const bool ok = code == CURLE_OK && status >= 200 && status < 300;
        if (reading_props) {
            if (ok)
                result.slots = total_slots_of(props_body);
        } else {
            result.ok = ok;
            result.why =
                code != CURLE_OK ? std::string(error_text) : "HTTP " + std::to_string(status);
            if (ok && !backend.slots) {
                // The next request starts from the loop, not from inside the HTTP client.
                owner->loop_.defer([o = owner, i = id] { o->start(i, "/props"); });
                return;
            }
        }
        // Called from inside the HTTP client: the probe is destroyed once the callback returned.
        auto self = std::move(owner->probes_.at(id));
        owner->probes_.erase(id);
        owner->loop_.defer([holder = std::shared_ptr<probe>(std::move(self))] {});
        if (slots_done)
            slots_done(result.slots);
        else
            done(result);
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

health_prober::probe_id http_health_prober::add(const backend_config& backend,
                                                std::chrono::milliseconds delay,
                                                result_handler done, slots_handler slots_done) {
    const probe_id id = next_id_++;
    auto p = std::make_unique<probe>(backend, std::move(done), std::move(slots_done));
    p->owner = this;
    p->id = id;
    const char* path = p->slots_done ? "/props" : "/health";
    p->timer = loop_.add_timer(delay, [this, id, path] { start(id, path); });
    probes_.emplace(id, std::move(p));
    return id;
}

health_prober::probe_id http_health_prober::schedule(const backend_config& backend,
                                                     result_handler done) {
    return add(backend, backend.health_interval, std::move(done), nullptr);
}

health_prober::probe_id http_health_prober::read_props(const backend_config& backend,
                                                       slots_handler done) {
    return add(backend, std::chrono::milliseconds(0), nullptr, std::move(done));
}

void http_health_prober::start(probe_id id, const char* path) {
    const auto it = probes_.find(id);
    if (it == probes_.end())
        return;
    auto& p = *it->second;
    p.timer = 0;
    p.reading_props = std::string_view(path) == "/props";
    http_request req;
    req.url = p.backend.url + path;
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
