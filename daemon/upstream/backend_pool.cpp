#include "daemon/upstream/backend_pool.hpp"

#include <algorithm>

#include "daemon/service/log.hpp"

namespace llmb {

struct backend_pool::state {
    backend_config cfg;
    std::uint32_t busy = 0;
    std::deque<slot_waiter*> waiting;
    bool up = true;
    // The slots in use for new dispatches: cfg.slots, else the server's total_slots.
    std::uint32_t slots = default_backend_slots;
    bool slots_told = false;            // the log said where slots come from
    health_prober::probe_id probe = 0;  // scheduled or running
    health_prober::probe_id props = 0;  // the read of /props at (re)configuration
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
std::uint32_t backend_pool::slots(std::size_t b) const {
    return state_[b]->slots;
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
        if (s->props != 0)
            prober_.cancel(s->props);
    }
}

void backend_pool::configure(const std::vector<backend_config>& backends) {
    ++generation_;
    std::vector<std::unique_ptr<state>> next;
    for (const auto& cfg : backends) {
        auto s = std::make_unique<state>();
        s->cfg = cfg;
        s->slots = cfg.slots.value_or(default_backend_slots);
        warn_if_insecure(cfg);
        for (auto& old : state_) {
            if (old && old->cfg.name == cfg.name) {
                s->busy = old->busy;
                s->waiting = std::move(old->waiting);
                s->up = old->up;
                if (!cfg.slots && !old->cfg.slots) {
                    // Still the server's to tell: keep what it told until it tells otherwise.
                    s->slots = old->slots;
                    s->slots_told = old->slots_told;
                }
            }
        }
        next.push_back(std::move(s));
    }
    for (auto& old : state_) {
        if (old->probe != 0)
            prober_.cancel(old->probe);
        if (old->props != 0)
            prober_.cancel(old->props);
    }
    // Requests queued on a backend that is gone go to the first remaining backend's queue.
    for (auto& old : state_) {
        if (!old->waiting.empty() && !next.empty()) {
            for (auto* w : old->waiting)
                next.front()->waiting.push_back(w);
        }
    }
    state_ = std::move(next);
    const std::uint64_t gen = generation_;
    for (std::size_t b = 0; b < state_.size(); ++b) {
        auto& s = *state_[b];
        if (!s.cfg.slots) {
            s.props = prober_.read_props(s.cfg, [this, b, gen](std::optional<std::uint32_t> n) {
                if (gen == generation_ && b < state_.size())
                    state_[b]->props = 0;
                on_props(b, gen, n);
            });
        }
        schedule_probe(b);
    }
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
    if (s.busy < s.slots && s.waiting.empty()) {
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
    dispatch(b);
}

// Gives free slots of backend b to its first waiters. When slots shrank, busy may stay above
// them until enough requests ended: nothing running is cancelled.
void backend_pool::dispatch(std::size_t b) {
    auto& s = *state_[b];
    while (s.busy < s.slots && !s.waiting.empty()) {
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
    s.probe =
        prober_.schedule(s.cfg, [this, b, gen](const probe_result& r) { on_probe(b, gen, r); });
}

// The answer to a probe marks the backend up (2xx) or down; then the next probe is scheduled.
void backend_pool::on_probe(std::size_t b, std::uint64_t generation, const probe_result& r) {
    if (generation != generation_ || b >= state_.size())
        return;  // probes of an older configuration are ignored
    state_[b]->probe = 0;
    mark(b, r.ok);
    if (!r.ok)
        get_logger("backend")->debug("{}: /health: {}", state_[b]->cfg.name, r.why);
    schedule_probe(b);
    if (r.ok)
        on_props(b, generation, r.slots);
}

// The server's total_slots (empty: it did not tell) for a backend without configured slots. A
// count it told before stays when a later /props fails (the server may be restarting).
void backend_pool::on_props(std::size_t b, std::uint64_t generation,
                            std::optional<std::uint32_t> told) {
    if (generation != generation_ || b >= state_.size() || state_[b]->cfg.slots)
        return;
    auto& s = *state_[b];
    if (told == std::nullopt || *told == 0) {
        if (!s.slots_told) {
            get_logger("backend")->info(
                "{}: /props tells no total_slots: {} slots (set backends[].slots to choose)",
                s.cfg.name, s.slots);
        }
        s.slots_told = true;
        return;
    }
    if (s.slots_told && s.slots == *told)
        return;
    get_logger("backend")->info("{}: {} slots (total_slots of its /props)", s.cfg.name, *told);
    s.slots = *told;
    s.slots_told = true;
    dispatch(b);
}

}  // namespace llmb
