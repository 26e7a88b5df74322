// The LLM servers: which serve a model, how many requests each runs at once (its slots: as
// configured, else what the server's /props reports, else 4), the queue of requests waiting for
// a slot, and whether each is up (a periodic /health probe and failed connections mark it down;
// a good answer marks it up again).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"

namespace llmb {

// A request waiting for a slot hears here when it gets one.
class slot_waiter {
public:
    virtual ~slot_waiter() = default;
    virtual void on_slot(std::size_t backend) = 0;
};

// What one health probe found.
struct probe_result {
    bool ok = false;  // /health answered 2xx
    std::string why;  // otherwise, what went wrong (for the log)
    // total_slots from GET /props, asked after a good /health when the backend's slots are not
    // configured; empty when not asked or not told (404, not JSON, no total_slots).
    std::optional<std::uint32_t> slots;
};

// Runs the periodic health probes of the pool: the daemon's waits on the event loop and sends
// GET /health (and GET /props) through the HTTP client (http_health_prober); unit tests answer
// by hand.
class health_prober {
public:
    using probe_id = std::uint64_t;
    using result_handler = std::function<void(const probe_result&)>;
    // slots: total_slots of GET /props, empty when the server did not tell.
    using slots_handler = std::function<void(std::optional<std::uint32_t> slots)>;
    virtual ~health_prober() = default;
    // After backend.health_interval, probes backend's /health (then its /props, see
    // probe_result) and calls done once with the answer, never from inside this call. Returns
    // a non-zero id.
    virtual probe_id schedule(const backend_config& backend, result_handler done) = 0;
    // Reads backend's /props at once and calls done once, never from inside this call.
    // Returns a non-zero id, cancelled like a probe.
    virtual probe_id read_props(const backend_config& backend, slots_handler done) = 0;
    // Forgets a probe scheduled or running: its done is not called.
    virtual void cancel(probe_id id) = 0;
};

class backend_pool {
public:
    explicit backend_pool(health_prober& prober);
    ~backend_pool();
    backend_pool(const backend_pool&) = delete;
    backend_pool& operator=(const backend_pool&) = delete;

    // Takes a new list of backends. Slots in use and queues carry over by backend name.
    void configure(const std::vector<backend_config>& backends);

    // Backends that serve model (all when model is empty or nobody lists models), up ones first,
    // in configuration order; skip lists backends already tried.
    std::vector<std::size_t> candidates(const std::string& model,
                                        const std::vector<std::string>& skip) const;

    enum class admission { granted, queued, full };
    // Takes a slot on backend b, or queues w (position set, 1-based), or says the queue is full.
    admission admit(std::size_t b, slot_waiter& w, std::size_t& position);
    // Gives a slot back; the first waiter of that backend gets it.
    void release(std::size_t b);
    // Removes w from whatever queue holds it.
    void withdraw(slot_waiter& w);

    void mark(std::size_t b, bool up);
    // The current index of a backend by name (indices change when a reload reorders them).
    std::optional<std::size_t> index_of(const std::string& name) const;
    const backend_config& backend(std::size_t b) const;
    bool up(std::size_t b) const;
    // The requests backend b runs at once now: configured, else from its /props, else 4.
    std::uint32_t slots(std::size_t b) const;
    std::size_t size() const noexcept { return state_.size(); }
    std::size_t queued() const noexcept;

private:
    struct state;
    void warn_if_insecure(const backend_config& cfg) const;
    void schedule_probe(std::size_t b);
    void on_probe(std::size_t b, std::uint64_t generation, const probe_result& r);
    void on_props(std::size_t b, std::uint64_t generation, std::optional<std::uint32_t> slots);
    void dispatch(std::size_t b);

    health_prober& prober_;
    std::vector<std::unique_ptr<state>> state_;
    std::uint64_t generation_ = 0;  // probes of an older configuration are ignored
};

}  // namespace llmb
