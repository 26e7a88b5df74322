#include "daemon/upstream/backend_pool.hpp"

#include <algorithm>

#include "daemon/service/log.hpp"

namespace llmb {

struct backend_pool::state {
    backend_config cfg;
    std::uint32_t busy = 0;
    std::deque<slot_waiter*> waiting;
    bool up = true;
    event_loop::timer_id probe_timer = 0;
    std::unique_ptr<class probe> probe_in_flight;
};

// One GET /health; the answer marks the backend up (2xx) or down.
class backend_pool::probe final : public http_handler {
public:
    probe(backend_pool& pool, std::size_t b, std::uint64_t generation)
        : pool_(pool), b_(b), generation_(generation) {}
    http_client::transfer_id id = 0;
    bool on_data(long, std::string_view) override { return true; }
    void on_complete(CURLcode result, long status, std::string_view error_text) override {
        auto& pool = pool_;
        const std::size_t b = b_;
        const bool current = generation_ == pool.generation_ && b < pool.state_.size();
        const bool ok = result == CURLE_OK && status >= 200 && status < 300;
        const std::string why =
            result != CURLE_OK ? std::string(error_text) : "HTTP " + std::to_string(status);
        if (!current)
            return;
        pool.loop_.defer(
            [holder = std::shared_ptr<probe>(std::move(pool.state_[b]->probe_in_flight))] {});
        pool.mark(b, ok);
        if (!ok) {
            get_logger("backend")->debug("{}: /health: {}", pool.state_[b]->cfg.name, why);
        }
        pool.schedule_probe(b);
    }

private:
    backend_pool& pool_;
    std::size_t b_;
    std::uint64_t generation_;
};

backend_pool::backend_pool(event_loop& loop, http_client& http) : loop_(loop), http_(http) {}

void backend_pool::warn_if_insecure(const backend_config& cfg) const {
    if (!cfg.tls.insecure || cfg.url.rfind("https://", 0) != 0)
        return;
    for (const auto& old : state_) {
        if (old->cfg.name == cfg.name && old->cfg.tls.insecure)
            return;  // said already
    }
    get_logger("backend")->warn(
        "{}: tls.insecure is set: the LLM server's certificate and host name are NOT checked",
        cfg.name);
}

const backend_config& backend_pool::backend(std::size_t b) const {
    return state_[b]->cfg;
}
bool backend_pool::up(std::size_t b) const {
    return state_[b]->up;
}

std::optional<std::size_t> backend_pool::index_of(const std::string& name) const {
    for (std::size_t b = 0; b < state_.size(); ++b) {
        if (state_[b]->cfg.name == name)
            return b;
    }
    return std::nullopt;
}

backend_pool::~backend_pool() {
    for (auto& s : state_) {
        if (s->probe_timer != 0)
            loop_.cancel_timer(s->probe_timer);
        if (s->probe_in_flight)
            http_.abort(s->probe_in_flight->id);
    }
}

void backend_pool::configure(const std::vector<backend_config>& backends) {
    ++generation_;
    std::vector<std::unique_ptr<state>> next;
    for (const auto& cfg : backends) {
        auto s = std::make_unique<state>();
        s->cfg = cfg;
        warn_if_insecure(cfg);
        for (auto& old : state_) {
            if (old && old->cfg.name == cfg.name) {
                s->busy = old->busy;
                s->waiting = std::move(old->waiting);
                s->up = old->up;
            }
        }
        next.push_back(std::move(s));
    }
    for (auto& old : state_) {
        if (old->probe_timer != 0)
            loop_.cancel_timer(old->probe_timer);
        if (old->probe_in_flight)
            http_.abort(old->probe_in_flight->id);
    }
    // Requests queued on a backend that is gone go to the first remaining backend's queue.
    for (auto& old : state_) {
        if (!old->waiting.empty() && !next.empty()) {
            for (auto* w : old->waiting)
                next.front()->waiting.push_back(w);
        }
    }
    state_ = std::move(next);
    for (std::size_t b = 0; b < state_.size(); ++b)
        schedule_probe(b);
}

std::vector<std::size_t> backend_pool::candidates(const std::string& model,
                                                  const std::vector<std::string>& skip) const {
    std::vector<std::size_t> serving;
    for (std::size_t b = 0; b < state_.size(); ++b) {
        const auto& cfg = state_[b]->cfg;
        if (std::find(skip.begin(), skip.end(), cfg.name) != skip.end())
            continue;
        const bool serves =
            model.empty() || cfg.models.empty() ||
            std::find(cfg.models.begin(), cfg.models.end(), model) != cfg.models.end();
        if (serves)
            serving.push_back(b);
    }
    std::stable_partition(serving.begin(), serving.end(),
                          [this](std::size_t b) { return state_[b]->up; });
    return serving;
}

backend_pool::admission backend_pool::admit(std::size_t b, slot_waiter& w, std::size_t& position) {
    auto& s = *state_[b];
    if (s.busy < s.cfg.slots && s.waiting.empty()) {
        ++s.busy;
        return admission::granted;
    }
    if (s.waiting.size() >= s.cfg.queue)
        return admission::full;
    s.waiting.push_back(&w);
    position = s.waiting.size();
    return admission::queued;
}

void backend_pool::release(std::size_t b) {
    if (b >= state_.size())
        return;
    auto& s = *state_[b];
    if (s.busy > 0)
        --s.busy;
    while (s.busy < s.cfg.slots && !s.waiting.empty()) {
        slot_waiter* w = s.waiting.front();
        s.waiting.pop_front();
        ++s.busy;
        w->on_slot(b);
    }
}

void backend_pool::withdraw(slot_waiter& w) {
    for (auto& s : state_) {
        auto it = std::find(s->waiting.begin(), s->waiting.end(), &w);
        if (it != s->waiting.end())
            s->waiting.erase(it);
    }
}

std::size_t backend_pool::queued() const noexcept {
    std::size_t n = 0;
    for (const auto& s : state_)
        n += s->waiting.size();
    return n;
}

void backend_pool::mark(std::size_t b, bool is_up) {
    auto& s = *state_[b];
    if (s.up != is_up) {
        get_logger("backend")->log(is_up ? spdlog::level::info : spdlog::level::warn,
                                   "{} ({}) is {}", s.cfg.name, s.cfg.url, is_up ? "up" : "down");
    }
    s.up = is_up;
}

void backend_pool::schedule_probe(std::size_t b) {
    auto& s = *state_[b];
    if (s.cfg.health_interval.count() == 0)
        return;
    const std::uint64_t gen = generation_;
    s.probe_timer = loop_.add_timer(s.cfg.health_interval, [this, b, gen] {
        if (gen != generation_)
            return;
        state_[b]->probe_timer = 0;
        run_probe(b);
    });
}

void backend_pool::run_probe(std::size_t b) {
    auto& s = *state_[b];
    http_request req;
    req.url = s.cfg.url + "/health";
    req.method = "GET";
    req.connect_timeout_ms = 2000;
    req.total_timeout_ms = 5000;
    if (!s.cfg.api_key.empty())
        req.headers.push_back("Authorization: Bearer " + s.cfg.api_key);
    req.tls = &s.cfg.tls;
    s.probe_in_flight = std::make_unique<probe>(*this, b, generation_);
    s.probe_in_flight->id = http_.start(req, *s.probe_in_flight);
}

}  // namespace llmb
