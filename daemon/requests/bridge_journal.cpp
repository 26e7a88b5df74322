// The bridge's in-flight journal: what a killed run left unfinished is ended at the start, and
// requests whose terminal the broker has taken leave the journal.
#include <algorithm>

#include "daemon/requests/bridge.hpp"
#include "daemon/service/log.hpp"

namespace llmb {

void bridge::end_unfinished() {
    const auto log = get_logger("bridge");
    const std::string& dir = cfg_->sessions.state_dir;
    if (dir.empty()) {
        log->info(
            "no sessions.state_dir: requests in flight when the bridge is killed or crashes get "
            "no terminal event after a restart");
        return;
    }
    // A bridge of a cluster may share the directory with its peers: each keeps its own file.
    const std::string file_name = !cfg_->cluster.group.empty()
                                      ? "inflight-" + cluster_bridge_id(*cfg_) + ".journal"
                                      : "inflight.journal";
    const auto left = journal_.open(dir, file_name);
    for (const auto& w : journal_.take_warnings())
        log->warn("{}", w);
    const protocol::error err{protocol::error_code::shutting_down,
                              "the bridge restarted before this request finished; send it again",
                              1000};
    for (const auto& e : left) {
        const bool sent =
            e.legacy
                ? event_sender::legacy(mqtt_, cfg_->mqtt.qos, e.topic, e.id, cfg_->mqtt.max_packet)
                      .send_error(err)
                : event_sender::send_lone_error(mqtt_, cfg_->mqtt.qos, e.topic, e.id, e.next_seq,
                                                err, e.correlation, e.limit, cfg_->mqtt.max_packet);
        journal_.ending(e.handle, mqtt_.last_ticket());
        log->warn("[{}] client={} ended after a restart: shutting_down at seq {}{}", e.id,
                  printable(e.client), e.next_seq, sent ? "" : " (does not fit)");
    }
    if (journal_.enabled()) {
        log->info("in-flight journal {}: {} request(s) left unfinished by the last run",
                  journal_.path(), left.size());
        sweep_journal();
    }
}

void bridge::sweep_journal() {
    journal_.sweep(mqtt_.settled_through());
    journal_.flush();
    for (const auto& w : journal_.take_warnings())
        get_logger("bridge")->warn("{}", w);
    if (!journal_.enabled())
        return;
    journal_timer_ = loop_.add_timer(std::chrono::seconds(1), [this] {
        journal_timer_ = 0;
        sweep_journal();
    });
}

}  // namespace llmb
