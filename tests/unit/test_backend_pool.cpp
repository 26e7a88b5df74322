// backend_pool (daemon/upstream/backend_pool): slots, the queue for a slot, up/down marking by
// probes and failures, slots from the server's /props, the choice of candidates, and a reload;
// the health probes and reads of /props are answered by hand through a recording health_prober.
#include "daemon/upstream/backend_pool.hpp"

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/service/log.hpp"
#include "daemon/upstream/server_props.hpp"

namespace {

using admission = llmb::backend_pool::admission;

class manual_prober final : public llmb::health_prober {
public:
    // The pool logs every up/down change; the test output keeps to failures.
    manual_prober() { llmb::init_logging(spdlog::level::off); }
    struct pending {
        std::string backend;
        result_handler done;
    };
    struct pending_props {
        std::string backend;
        slots_handler done;
    };
    std::map<probe_id, pending> probes;       // scheduled and not cancelled
    std::map<probe_id, pending_props> props;  // reads of /props not answered nor cancelled
    std::vector<probe_id> cancelled;

    probe_id schedule(const llmb::backend_config& backend, result_handler done) override {
        probes[next_] = {backend.name, std::move(done)};
        return next_++;
    }
    probe_id read_props(const llmb::backend_config& backend, slots_handler done) override {
        props[next_] = {backend.name, std::move(done)};
        return next_++;
    }
    void cancel(probe_id id) override {
        cancelled.push_back(id);
        probes.erase(id);
        props.erase(id);
    }
    // Answers the probe of backend name (slots: what its /props told); false when none is
    // scheduled.
    bool answer(const std::string& name, bool ok, std::optional<std::uint32_t> slots = {}) {
        for (auto it = probes.begin(); it != probes.end(); ++it) {
            if (it->second.backend == name) {
                auto done = std::move(it->second.done);
                probes.erase(it);
                done({ok, ok ? "HTTP 200" : "Connection refused", slots});
                return true;
            }
        }
        return false;
    }
    // Answers the first read of backend name's /props; false when none is pending.
    bool answer_props(const std::string& name, std::optional<std::uint32_t> slots) {
        for (auto it = props.begin(); it != props.end(); ++it) {
            if (it->second.backend == name) {
                auto done = std::move(it->second.done);
                props.erase(it);
                done(slots);
                return true;
            }
        }
        return false;
    }
    std::size_t scheduled_for(const std::string& name) const {
        std::size_t n = 0;
        for (const auto& [id, p] : probes) {
            if (p.backend == name)
                ++n;
        }
        return n;
    }

private:
    probe_id next_ = 1;
};

struct waiter final : llmb::slot_waiter {
    std::vector<std::size_t> slots;
    void on_slot(std::size_t backend) override { slots.push_back(backend); }
};

llmb::backend_config backend(std::string name, std::vector<std::string> models,
                             std::uint32_t slots = 1, std::uint32_t queue = 2) {
    llmb::backend_config b;
    b.name = name;
    b.url = "http://" + name + ":8080";
    b.models = std::move(models);
    b.slots = slots;
    b.queue = queue;
    return b;
}

}  // namespace

TEST_CASE("backend_pool: slots, then the queue in order, then full") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    pool.configure({backend("a", {}, 2, 2)});
    waiter w1, w2, w3, w4, w5;
    std::size_t position = 0;
    CHECK(pool.admit(0, w1, position) == admission::granted);
    CHECK(pool.admit(0, w2, position) == admission::granted);
    CHECK(pool.admit(0, w3, position) == admission::queued);
    CHECK(position == 1);
    CHECK(pool.admit(0, w4, position) == admission::queued);
    CHECK(position == 2);
    CHECK(pool.admit(0, w5, position) == admission::full);
    CHECK(pool.queued() == 2);

    pool.release(0);  // the first in the queue gets the slot
    CHECK(w3.slots == std::vector<std::size_t>{0});
    CHECK(w4.slots.empty());
    CHECK(pool.queued() == 1);
    // Both slots are taken again (w3 and w4): the next request waits.
    pool.release(0);
    CHECK(w4.slots == std::vector<std::size_t>{0});
    CHECK(pool.queued() == 0);
    CHECK(pool.admit(0, w5, position) == admission::queued);
    pool.release(0);
    CHECK(w5.slots == std::vector<std::size_t>{0});
}

TEST_CASE("backend_pool: a withdrawn waiter does not get a slot") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    pool.configure({backend("a", {}, 1, 5)});
    waiter w1, w2, w3;
    std::size_t position = 0;
    REQUIRE(pool.admit(0, w1, position) == admission::granted);
    REQUIRE(pool.admit(0, w2, position) == admission::queued);
    REQUIRE(pool.admit(0, w3, position) == admission::queued);
    pool.withdraw(w2);
    CHECK(pool.queued() == 1);
    pool.release(0);
    CHECK(w2.slots.empty());
    CHECK(w3.slots == std::vector<std::size_t>{0});
}

TEST_CASE("backend_pool: candidates serve the model, up ones first, tried ones skipped") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    pool.configure({backend("a", {"qwen"}), backend("b", {"llama", "qwen"}), backend("c", {}),
                    backend("d", {"llama"})});
    using v = std::vector<std::size_t>;
    CHECK(pool.candidates("qwen", {}) == v{0, 1, 2});
    CHECK(pool.candidates("llama", {}) == v{1, 2, 3});
    CHECK(pool.candidates("other", {}) == v{2});
    CHECK(pool.candidates("", {}) == v{0, 1, 2, 3});
    // Failover: a backend marked down goes last; one already tried is left out.
    pool.mark(0, false);
    CHECK_FALSE(pool.up(0));
    CHECK(pool.candidates("qwen", {}) == v{1, 2, 0});
    CHECK(pool.candidates("qwen", {"b"}) == v{2, 0});
    CHECK(pool.candidates("qwen", {"a", "b", "c"}).empty());
    pool.mark(0, true);
    CHECK(pool.candidates("qwen", {}) == v{0, 1, 2});
    // Nobody lists models: every backend serves every model.
    pool.configure({backend("x", {}), backend("y", {})});
    CHECK(pool.candidates("anything", {}) == v{0, 1});
}

TEST_CASE("backend_pool: health probes mark backends down and up, and go on") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    auto no_probe = backend("b", {});
    no_probe.health_interval = std::chrono::milliseconds(0);
    pool.configure({backend("a", {}), no_probe});
    CHECK(prober.scheduled_for("a") == 1);
    CHECK(prober.scheduled_for("b") == 0);  // health_interval 0: never probed

    REQUIRE(prober.answer("a", false));
    CHECK_FALSE(pool.up(0));
    CHECK(prober.scheduled_for("a") == 1);  // the next probe
    REQUIRE(prober.answer("a", false));
    CHECK_FALSE(pool.up(0));
    REQUIRE(prober.answer("a", true));
    CHECK(pool.up(0));
    CHECK(prober.scheduled_for("a") == 1);
    CHECK(pool.up(1));
}

TEST_CASE("backend_pool: a reload keeps slots, queues and state by name, and probes anew") {
    manual_prober prober;
    auto pool = std::make_unique<llmb::backend_pool>(prober);
    pool->configure({backend("a", {}, 1, 5), backend("b", {}, 1, 5)});
    waiter w1, w2, w3;
    std::size_t position = 0;
    REQUIRE(pool->admit(1, w1, position) == admission::granted);
    REQUIRE(pool->admit(1, w2, position) == admission::queued);
    REQUIRE(pool->admit(0, w3, position) == admission::granted);
    pool->mark(1, false);
    auto stale = std::move(prober.probes);  // the probes of the old configuration
    prober.probes.clear();

    // b moves to the front, a is gone, c is new.
    pool->configure({backend("b", {}, 1, 5), backend("c", {}, 1, 5)});
    CHECK(prober.cancelled.size() == 2);
    CHECK(pool->index_of("b") == 0u);
    CHECK_FALSE(pool->index_of("a").has_value());
    CHECK_FALSE(pool->up(0));  // b stays down
    CHECK(pool->up(1));
    CHECK(pool->queued() == 1);
    std::size_t p2 = 0;
    waiter w4;
    CHECK(pool->admit(0, w4, p2) == admission::queued);  // b's slot is still taken
    CHECK(p2 == 2);
    pool->release(0);
    CHECK(w2.slots == std::vector<std::size_t>{0});

    // An answer to a probe of the old configuration changes nothing.
    for (auto& [id, p] : stale)
        p.done({true, "HTTP 200", std::nullopt});
    CHECK_FALSE(pool->up(0));
    CHECK(prober.scheduled_for("b") == 1);
    CHECK(prober.scheduled_for("c") == 1);

    // The pool cancels its probes when it goes.
    pool.reset();
    CHECK(prober.probes.empty());
}

TEST_CASE("backend_pool: requests queued on a backend that is gone wait on the first one") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    pool.configure({backend("a", {}, 1, 5), backend("b", {}, 1, 5)});
    waiter w1, w2;
    std::size_t position = 0;
    REQUIRE(pool.admit(1, w1, position) == admission::granted);
    REQUIRE(pool.admit(1, w2, position) == admission::queued);
    pool.configure({backend("a", {}, 1, 5)});
    CHECK(pool.queued() == 1);
    waiter w3;
    REQUIRE(pool.admit(0, w3, position) == admission::queued);  // behind w2
    CHECK(position == 2);
    pool.release(0);  // nobody held a's slot: w2 gets it at once
    CHECK(w2.slots == std::vector<std::size_t>{0});
}

namespace {

// A backend whose slots are not configured: the server's /props tells them.
llmb::backend_config unset_slots(std::string name, std::uint32_t queue = 10) {
    auto b = backend(std::move(name), {}, 1, queue);
    b.slots.reset();
    return b;
}

// Takes slots on backend b until one is refused; returns how many were granted.
std::size_t fill(llmb::backend_pool& pool, std::size_t b, std::vector<waiter>& ws) {
    std::size_t granted = 0;
    for (auto& w : ws) {
        std::size_t position = 0;
        if (pool.admit(b, w, position) != admission::granted)
            break;
        ++granted;
    }
    return granted;
}

}  // namespace

TEST_CASE("backend_pool: slots not configured come from /props at start, 4 until it answers") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    pool.configure({unset_slots("a")});
    CHECK(pool.slots(0) == 4);
    REQUIRE(prober.answer_props("a", 2));
    CHECK(pool.slots(0) == 2);
    std::vector<waiter> ws(5);
    CHECK(fill(pool, 0, ws) == 2);  // the third is queued
}

TEST_CASE("backend_pool: a later probe's /props changes the slots, both ways") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    pool.configure({unset_slots("a")});
    REQUIRE(prober.answer_props("a", 2));
    REQUIRE(prober.answer("a", true, 6));
    CHECK(pool.slots(0) == 6);
    REQUIRE(prober.answer("a", true, 3));
    CHECK(pool.slots(0) == 3);
    // A /props answer that comes with a failed /health is not taken.
    REQUIRE(prober.answer("a", false, 8));
    CHECK(pool.slots(0) == 3);
}

TEST_CASE("backend_pool: slots are kept when /props fails, and 4 when it never answered") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    pool.configure({unset_slots("a"), unset_slots("b")});
    REQUIRE(prober.answer_props("a", 2));
    REQUIRE(prober.answer_props("b", std::nullopt));  // 404, not JSON, no total_slots
    CHECK(pool.slots(0) == 2);
    CHECK(pool.slots(1) == 4);
    REQUIRE(prober.answer("a", true, std::nullopt));
    REQUIRE(prober.answer("a", false, std::nullopt));
    CHECK(pool.slots(0) == 2);
    REQUIRE(prober.answer("b", true, std::nullopt));
    CHECK(pool.slots(1) == 4);
    // A reload keeps what the server told while the configuration still leaves it to it.
    pool.configure({unset_slots("a"), unset_slots("b")});
    CHECK(pool.slots(0) == 2);
}

TEST_CASE("backend_pool: configured slots are never overridden and /props is not read") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    pool.configure({backend("a", {}, 3, 10)});
    CHECK(prober.props.empty());
    REQUIRE(prober.answer("a", true, 7));  // a prober would not ask; the pool must not listen
    CHECK(pool.slots(0) == 3);
    std::vector<waiter> ws(5);
    CHECK(fill(pool, 0, ws) == 3);
    // A reload that sets slots on a backend whose slots came from /props.
    pool.configure({unset_slots("b")});
    REQUIRE(prober.answer_props("b", 6));
    auto set = unset_slots("b");
    set.slots = 1;
    pool.configure({set});
    CHECK(prober.props.empty());
    CHECK(pool.slots(0) == 1);
}

TEST_CASE("backend_pool: when /props grows the slots, waiting requests get them at once") {
    manual_prober prober;
    llmb::backend_pool pool(prober);
    pool.configure({unset_slots("a")});
    REQUIRE(prober.answer_props("a", 1));
    std::vector<waiter> ws(4);
    std::size_t position = 0;
    REQUIRE(pool.admit(0, ws[0], position) == admission::granted);
    for (std::size_t i = 1; i < ws.size(); ++i)
        REQUIRE(pool.admit(0, ws[i], position) == admission::queued);
    REQUIRE(prober.answer("a", true, 3));  // two more slots: the first two waiters run
    CHECK(ws[1].slots == std::vector<std::size_t>{0});
    CHECK(ws[2].slots == std::vector<std::size_t>{0});
    CHECK(ws[3].slots.empty());
    CHECK(pool.queued() == 1);
    // Shrinking cancels nothing; the next release does not dispatch while 3 run on 1 slot.
    REQUIRE(prober.answer("a", true, 1));
    pool.release(0);
    CHECK(ws[3].slots.empty());
    pool.release(0);
    CHECK(ws[3].slots.empty());
    pool.release(0);  // the last of the three ended: the slot is free
    CHECK(ws[3].slots == std::vector<std::size_t>{0});
}

TEST_CASE("total_slots_of: llama-server's /props, and what is not one") {
    CHECK(llmb::total_slots_of(
              R"({"total_slots":4,"default_generation_settings":{"n_ctx":4096}})") == 4u);
    CHECK_FALSE(llmb::total_slots_of("").has_value());
    CHECK_FALSE(llmb::total_slots_of("File Not Found").has_value());
    CHECK_FALSE(llmb::total_slots_of(R"({"error":{"code":404}})").has_value());
    CHECK_FALSE(llmb::total_slots_of(R"({"total_slots":0})").has_value());
    CHECK_FALSE(llmb::total_slots_of(R"({"total_slots":-1})").has_value());
    CHECK_FALSE(llmb::total_slots_of(R"({"total_slots":"4"})").has_value());
    CHECK_FALSE(llmb::total_slots_of("[4]").has_value());
}
