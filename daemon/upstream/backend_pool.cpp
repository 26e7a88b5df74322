#include "daemon/upstream/backend_pool.hpp"

#include <algorithm>

#include "daemon/service/log.hpp"

namespace llmb {

struct backend_pool::state {
    backend_config cfg;
    std::uint32_t busy = 0;
    std::deque<slot_waiter*> waiting;
    bool up = true;
    health_prober::probe_id probe = 0;  // scheduled or running
};

backend_pool::backend_pool(health_prober& prober) : prober_(prober) {}

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
        if (s->probe != 0)
            prober_.cancel(s->probe);
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
        if (old->probe != 0)
            prober_.cancel(old->probe);
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
    s.probe = prober_.schedule(
        s.cfg, [this, b, gen](bool ok, const std::string& why) { on_probe(b, gen, ok, why); });
}

// The answer to a probe marks the backend up (2xx) or down; then the next probe is scheduled.
void backend_pool::on_probe(std::size_t b, std::uint64_t generation, bool ok,
                            const std::string& why) {
    if (generation != generation_ || b >= state_.size())
        return;  // probes of an older configuration are ignored
    state_[b]->probe = 0;
    mark(b, ok);
    if (!ok)
        get_logger("backend")->debug("{}: /health: {}", state_[b]->cfg.name, why);
    schedule_probe(b);
}

}  // namespace llmb
