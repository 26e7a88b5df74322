// A bridge of a cluster ending the requests of a peer that died. It follows the peers' status
// topics and response streams (see cluster_tracker) and, when a peer's will announces it
// offline and this bridge is the survivor to act, publishes a shutting_down error that
// continues each of that peer's unfinished streams at its next seq.
//
// Its settings (the group, the watched topics) are those of the start: cluster settings change
// with a restart.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "daemon/cluster/cluster_tracker.hpp"
#include "daemon/config/config.hpp"
#include "daemon/mqtt/mqtt_link.hpp"

namespace llmb {

class cluster_takeover {
public:
    cluster_takeover(mqtt_link& mqtt, std::shared_ptr<const config> cfg);

    // What to watch: the peers' status and every topic their events can go to. Empty when the
    // configuration has no cluster group or no takeover.
    static std::vector<std::string> watch_filters(const config& c);

    // Takes a message on a watched topic; false for any other message (not handled here).
    bool on_message(const inbound_message& msg);

    // Forgets streams silent for longer than any request may last (their terminal was missed).
    void prune(std::chrono::steady_clock::time_point now);

private:
    void end_orphans(std::vector<orphaned_request> orphans);

    mqtt_link& mqtt_;
    std::shared_ptr<const config> cfg_;
    std::string self_;
    cluster_tracker tracker_;
    std::string status_prefix_;          // "{first prefix}/status/"
    std::vector<std::string> prefixes_;  // topics of peers' events
};

}  // namespace llmb
