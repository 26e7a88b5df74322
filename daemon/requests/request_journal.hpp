// The in-flight journal: a file under the state directory that says which requests have started
// and not finished, with what a terminal for each needs (topic, correlation data, packet limit)
// and its next seq. A bridge killed with SIGKILL (or crashed) finds them there at its next start
// and ends each with a shutting_down error at exactly that seq.
//
// Cheap by design: records are appended to a buffer and written with one write() (flush) just
// before the events they describe are handed to the MQTT client library, with no fsync: the page
// cache outlives the process, not a power loss. The file is rewritten (tmp + rename) with only the
// live entries at open and whenever it has grown past its bound.
//
// A request's entry goes once its terminal has been handed over and the broker has
// acknowledged it (or the publish failed): ending() names the terminal's ticket (its place in the
// order of publishes, mqtt_link::last_ticket), sweep() the ticket up to which every publish is
// settled (mqtt_link::settled_through).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "daemon/requests/journal_codec.hpp"

namespace llmb {

class request_journal {
public:
    // compact_min_bytes: the file is never compacted below this size.
    explicit request_journal(std::size_t compact_min_bytes = 256 * 1024);
    ~request_journal();
    request_journal(const request_journal&) = delete;
    request_journal& operator=(const request_journal&) = delete;

    // Opens (creates) dir/file_name, reads what an earlier run left unfinished and compacts the
    // file to exactly those entries, which stay live here until they are ended too. Returns them;
    // on an I/O error the journal stays off and warnings() says why.
    std::vector<journal_entry> open(const std::string& dir, const std::string& file_name);
    bool enabled() const noexcept { return fd_ >= 0; }
    const std::string& path() const noexcept { return path_; }

    // A request started: its entry (the handle is assigned here). Returns the handle (0: off).
    std::uint64_t begin(journal_entry e);
    // The request's next seq is now next_seq (nothing is buffered when it did not change).
    void note_seq(std::uint64_t handle, std::uint64_t next_seq);
    // The request's terminal was queued as publish number ordinal (counted from the start).
    void ending(std::uint64_t handle, std::uint64_t ordinal);
    // Publishes up to number completed have been acknowledged, have failed or were dropped: the
    // requests whose terminal is among them are ended.
    void sweep(std::uint64_t completed);
    // Writes what is buffered with one write(); compacts when the file grew past its bound.
    void flush();

    std::size_t live() const noexcept { return live_.size(); }
    std::size_t file_bytes() const noexcept { return file_bytes_; }
    // Problems met since the last call (one line each); the journal turns itself off on the first.
    std::vector<std::string> take_warnings() { return std::exchange(warnings_, {}); }

private:
    void compact();
    void fail(const std::string& what);

    std::size_t compact_min_bytes_;
    std::string path_;
    int fd_ = -1;
    std::string buffer_;
    std::unordered_map<std::uint64_t, journal_entry> live_;
    std::deque<std::pair<std::uint64_t, std::uint64_t>> ending_;  // ordinal, handle
    std::uint64_t next_handle_ = 1;
    std::size_t file_bytes_ = 0;
    std::vector<std::string> warnings_;
};

}  // namespace llmb
