// Client side of the protocol: turns the messages of one response topic back into events,
// reassembling frags, dropping duplicates by seq (QoS 1 may redeliver) and checking the
// invariants. Used by llm-mqtt and by the tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace llmb::protocol {

class response_assembler {
public:
    // Feeds one MQTT message payload. Complete events (frags joined) are appended to out in seq
    // order; messages that arrive early are held until the gap before them fills.
    void feed(std::string_view payload, std::vector<nlohmann::json>& out);

    bool finished() const noexcept { return finished_; }        // the terminal event was delivered
    const std::string& text() const noexcept { return text_; }  // chunk text so far
    const std::string& reasoning() const noexcept { return reasoning_; }
    std::uint64_t chunks() const noexcept { return chunks_; }
    std::uint64_t duplicates() const noexcept { return duplicates_; }
    // Violations seen: unreadable messages, frag mismatches, events after the terminal,
    // a done whose chunks/bytes disagree with what arrived. Empty when all is well.
    const std::vector<std::string>& violations() const noexcept { return violations_; }
    // Seqs still missing below the highest seq seen (a stream stuck here has lost messages).
    std::uint64_t missing() const noexcept;

private:
    void deliver(nlohmann::json ev, std::vector<nlohmann::json>& out);
    void deliver_frag(const nlohmann::json& ev, std::vector<nlohmann::json>& out);
    void handle_event(nlohmann::json ev, std::vector<nlohmann::json>& out);
    void check_done(const nlohmann::json& ev);
    void reset_frag() noexcept;
    void violation(std::string what);

    std::string id_;  // the id of the first event: every event of the topic must carry it
    std::uint64_t next_seq_ = 0;
    std::vector<std::pair<std::uint64_t, nlohmann::json>> pending_;  // early messages
    std::string frag_of_;
    std::string frag_data_;
    std::uint64_t frag_parts_ = 0;
    std::uint64_t frag_next_part_ = 0;
    std::uint64_t frag_first_seq_ = 0;
    std::string text_;
    std::string reasoning_;
    std::uint64_t chunks_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t highest_seq_ = 0;
    bool any_ = false;
    bool finished_ = false;
    std::vector<std::string> violations_;
};

}  // namespace llmb::protocol
