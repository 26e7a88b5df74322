// The daemon's health probes of the LLM servers: a timer on the event loop, then GET /health
// through the HTTP client, and GET /props for a backend whose slots are not configured.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "daemon/service/event_loop.hpp"
#include "daemon/upstream/backend_pool.hpp"
#include "daemon/upstream/http_client.hpp"

namespace llmb {

class http_health_prober final : public health_prober {
public:
    http_health_prober(event_loop& loop, http_client& http);
    ~http_health_prober() override;
    http_health_prober(const http_health_prober&) = delete;
    http_health_prober& operator=(const http_health_prober&) = delete;

    probe_id schedule(const backend_config& backend, result_handler done) override;
    probe_id read_props(const backend_config& backend, slots_handler done) override;
    void cancel(probe_id id) override;

private:
    class probe;
    probe_id add(const backend_config& backend, std::chrono::milliseconds delay,
                 result_handler done, slots_handler slots_done);
    void start(probe_id id, const char* path);

    event_loop& loop_;
    http_client& http_;
    probe_id next_id_ = 1;
    std::unordered_map<probe_id, std::unique_ptr<probe>> probes_;
};

}  // namespace llmb
