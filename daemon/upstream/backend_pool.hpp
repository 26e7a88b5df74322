// The LLM servers: which serve a model, how many requests each runs at once (its slots), the
// queue of requests waiting for a slot, and whether each is up (a periodic /health probe and
// failed connections mark it down; a good answer marks it up again).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/service/event_loop.hpp"
#include "daemon/upstream/http_client.hpp"

namespace llmb {

// A request waiting for a slot hears here when it gets one.
class slot_waiter {
public:
    virtual ~slot_waiter() = default;
    virtual void on_slot(std::size_t backend) = 0;
};

class backend_pool {
public:
    backend_pool(event_loop& loop, http_client& http);
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
    std::size_t size() const noexcept { return state_.size(); }
    std::size_t queued() const noexcept;

private:
    struct state;
    class probe;
    void warn_if_insecure(const backend_config& cfg) const;
    void schedule_probe(std::size_t b);
    void run_probe(std::size_t b);

    event_loop& loop_;
    http_client& http_;
    std::vector<std::unique_ptr<state>> state_;
    std::uint64_t generation_ = 0;  // probes of an older configuration are ignored
};

}  // namespace llmb
