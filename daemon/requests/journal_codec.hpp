// The records of the in-flight journal (see request_journal): pure encoding and replay, no I/O.
//
// One record a line, fields separated by spaces, strings escaped so that they hold neither
// spaces nor line ends:
//   B <handle> <next seq> <packet limit> <legacy 0|1> <project> <client> <id> <topic> <corr>
//   S <handle> <next seq>
//   E <handle>
// B: a request started; S: its next seq is now this; E: it ended (its terminal is through).
// A record is whole only with its line end: a torn last line (the process died while writing
// it) is ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmb {

struct journal_entry {
    std::uint64_t handle = 0;
    std::uint64_t next_seq = 0;  // the seq a terminal sent now would carry
    std::size_t limit = 0;       // the packet limit in force for the request (0: none)
    bool legacy = false;         // a legacy-topic request: plain text, no seq
    std::string project;         // the project's prefix
    std::string client;
    std::string id;
    std::string topic;        // where its events go
    std::string correlation;  // MQTT 5 Correlation Data (bytes; empty: none)

    bool operator==(const journal_entry& o) const;
};

void append_begin_record(std::string& out, const journal_entry& e);
void append_seq_record(std::string& out, std::uint64_t handle, std::uint64_t next_seq);
void append_end_record(std::string& out, std::uint64_t handle);

struct journal_replay {
    std::vector<journal_entry> live;  // begun and not ended, in the order they began
    std::size_t bad_records = 0;      // lines that are no record (skipped)
    bool torn_tail = false;           // the last line had no line end (ignored)
};
journal_replay replay_journal(std::string_view text);

// The records that recreate exactly these entries: what a compacted journal holds.
std::string encode_journal_snapshot(const std::vector<journal_entry>& live);

}  // namespace llmb
