// The bridge: takes requests and cancels from MQTT, owns every request in flight, and shuts
// down gracefully. Everything here runs on the event loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/cluster/cluster_takeover.hpp"
#include "daemon/config/config.hpp"
#include "daemon/mqtt/mqtt_link.hpp"
#include "daemon/mqtt/tls_diagnosis.hpp"
#include "daemon/requests/rate_limiter.hpp"
#include "daemon/requests/replay_store.hpp"
#include "daemon/requests/request_journal.hpp"
#include "daemon/requests/request_stream.hpp"
#include "daemon/service/event_loop.hpp"
#include "daemon/service/metrics.hpp"
#include "daemon/service/metrics_publisher.hpp"
#include "daemon/sessions/session_service.hpp"
#include "daemon/upstream/backend_pool.hpp"
#include "daemon/upstream/http_client.hpp"
#include "daemon/upstream/http_health_prober.hpp"

namespace llmb {

class bridge {
public:
    bridge(event_loop& loop, std::shared_ptr<const config> cfg);
    ~bridge();
    bridge(const bridge&) = delete;
    bridge& operator=(const bridge&) = delete;

    void start();
    // Stops taking requests, lets those in flight finish within the grace period, ends the
    // rest with shutting_down, publishes offline, disconnects, then calls done.
    void shutdown(std::function<void()> done);
    bool stopping() const noexcept { return stopping_; }
    // Swaps in a new configuration for requests that arrive from now on; requests in flight
    // keep theirs. MQTT connection settings take effect at the next restart.
    void reload(std::shared_ptr<const config> cfg);
    std::size_t in_flight() const noexcept { return active_.size(); }
    // True while the MQTT link is connected and subscribed.
    bool connected() const noexcept { return mqtt_.ready(); }
    // Requests that have ended (answered, failed or cancelled) since the start.
    std::uint64_t served() const noexcept { return served_; }
    // Called on the loop each time the MQTT link is connected and subscribed (again after a
    // reconnect); nullptr removes it.
    void set_ready_handler(std::function<void()> fn) { on_ready_ = std::move(fn); }

private:
    void on_message(inbound_message&& msg);
    void on_request(const project_config& project, const std::string& client,
                    const inbound_message& msg);
    void on_cancel(const project_config& project, const std::string& client,
                   std::string_view payload);
    // A device that reconnected asks for a request's events again (bridge_resume.cpp).
    void on_resume(const project_config& project, const std::string& client,
                   const inbound_message& msg);
    void on_legacy(const project_config& project, std::string_view payload);
    // Whether a v5 Response Topic of a message from client may be published on; why not in why.
    bool response_topic_ok(const project_config& project, const std::string& client,
                           const std::string& topic, std::string& why) const;
    // Checks shutdown, duplicates and limits (limit_name: whose rate and concurrency count),
    // then starts the request.
    void accept(const project_config& project, const std::string& client,
                const std::string& limit_name, protocol::request req, event_sender sender);
    // An error event as the only event of a request (seq 0) on topic. With keep_key (the
    // request's key) and no request in flight under it, the error is held for resume.
    void reply_error(const std::string& topic, const std::string& client, const std::string& id,
                     const protocol::error& err, std::size_t request_limit,
                     const std::string& correlation = {}, const std::string& keep_key = {});
    void prune_limits();
    // Opens the in-flight journal and ends what a killed run left unfinished (before anything
    // new is served: those errors are the first messages queued).
    void end_unfinished();
    // Ends the journal's requests whose terminal the broker has taken, writes what is buffered.
    void sweep_journal();
    void on_finished(request_stream& stream);
    void finish_shutdown();
    std::string generate_id();
    static std::string key(std::string_view prefix, std::string_view client, std::string_view id);

    event_loop& loop_;
    std::shared_ptr<const config> cfg_;
    http_client http_;
    http_health_prober prober_;  // before backends_, which cancels its probes when destroyed
    backend_pool backends_;
    curl_tls_diagnosis broker_tls_check_;  // outlives mqtt_, which uses it
    mqtt_link mqtt_;
    metrics metrics_;
    stream_services services_;
    session_service sessions_;
    metrics_publisher metrics_publisher_;
    request_journal journal_;  // off without a state directory
    replay_store replay_;      // outlives the requests whose events it holds
    event_loop::timer_id journal_timer_ = 0;
    std::unique_ptr<cluster_takeover> takeover_;  // a bridge of a cluster that takes over
    std::unordered_map<std::string, std::unique_ptr<request_stream>> active_;
    std::unordered_map<std::string, std::unique_ptr<rate_limiter>> limiters_;  // by prefix
    std::unordered_map<std::string, std::uint32_t> per_client_;  // prefix/client -> in flight
    event_loop::timer_id prune_timer_ = 0;
    std::mt19937_64 rng_;
    std::uint64_t served_ = 0;
    bool stopping_ = false;
    bool shutdown_started_ = false;
    event_loop::timer_id grace_timer_ = 0;
    std::function<void()> on_stopped_;
    std::function<void()> on_ready_;
};

}  // namespace llmb
