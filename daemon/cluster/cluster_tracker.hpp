// What a bridge of a cluster knows about the requests its peers serve, so that the survivors can
// end the requests of a bridge that died. Every bridge watches the others' response streams
// (start events name the serving bridge) and status topics (the broker publishes a dead
// bridge's will there). When a peer goes offline, the online bridge with the smallest id ends
// that peer's unfinished requests: it knows each one's topic, id, last seq and Correlation
// Data, so its error event continues the stream without a gap.
//
// Pure bookkeeping: no I/O; the bridge feeds it messages and publishes what it returns.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace llmb {

struct orphaned_request {
    std::string owner;
    std::string topic;
    std::string id;
    std::uint64_t next_seq = 0;
    std::string correlation;
    // The largest event payload the dead bridge published on the stream: it fitted the
    // device's packet limit, so an event no larger fits too.
    std::size_t largest_payload = 0;
};

class cluster_tracker {
public:
    using time_point = std::chrono::steady_clock::time_point;

    explicit cluster_tracker(std::string self) : self_(std::move(self)) {}

    // A message seen on a response topic. Streams are followed from their start event on;
    // streams of this bridge itself and messages that are not events are ignored.
    void on_response(std::string_view topic, std::string_view payload, std::string_view correlation,
                     time_point now);

    // A peer's status. When it went offline, its unfinished requests are forgotten and, when
    // this bridge is the one to end them, returned.
    std::vector<orphaned_request> on_status(std::string_view bridge, bool online);

    // Forgets streams not heard of since before `before` (their terminal was missed).
    void prune(time_point before);

    std::size_t tracked() const noexcept { return streams_.size(); }
    std::size_t peers_online() const noexcept { return online_.size(); }

private:
    struct stream {
        std::string owner;
        std::string topic;
        std::string id;
        std::uint64_t last_seq = 0;
        std::string correlation;
        time_point seen;
        std::size_t largest_payload = 0;
    };

    std::string self_;
    std::set<std::string, std::less<>> online_;        // peers, not this bridge
    std::unordered_map<std::string, stream> streams_;  // by topic '\n' id
};

}  // namespace llmb
