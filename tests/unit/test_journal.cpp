// The in-flight journal: its records, their replay (torn and unreadable lines included), and the
// file a request_journal leaves behind for the next start, compacted.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/requests/journal_codec.hpp"
#include "daemon/requests/request_journal.hpp"
#include "support.hpp"

namespace llmb {
namespace {

using llmb::test::temp_dir;

namespace fs = std::filesystem;

journal_entry sample(std::uint64_t handle, std::string id) {
    journal_entry e;
    e.handle = handle;
    e.next_seq = 3;
    e.limit = 1024;
    e.project = "llm";
    e.client = "dev-1";
    e.id = std::move(id);
    e.topic = "llm/response/dev-1/" + e.id;
    return e;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_SUITE("journal") {
    TEST_CASE("a begin record keeps every field, awkward bytes included") {
        journal_entry e = sample(7, "id with spaces%and\nline");
        e.topic = "a b/%/\r\n/\x7f";
        e.correlation = std::string("\0\x01 \xff%", 5);
        e.legacy = true;
        journal_entry empty = sample(8, "x");
        empty.project.clear();
        empty.correlation.clear();
        std::string text;
        append_begin_record(text, e);
        append_begin_record(text, empty);
        CHECK(std::count(text.begin(), text.end(), '\n') == 2);
        const auto r = replay_journal(text);
        REQUIRE(r.live.size() == 2);
        CHECK(r.live[0] == e);
        CHECK(r.live[1] == empty);
        CHECK(r.bad_records == 0);
        CHECK_FALSE(r.torn_tail);
    }

    TEST_CASE("seq records move an entry on; an end record removes it") {
        std::string text;
        append_begin_record(text, sample(1, "a"));
        append_begin_record(text, sample(2, "b"));
        append_seq_record(text, 1, 9);
        append_seq_record(text, 2, 4);
        append_end_record(text, 2);
        append_seq_record(text, 1, 12);
        append_seq_record(text, 2, 5);  // after its end: ignored
        const auto r = replay_journal(text);
        REQUIRE(r.live.size() == 1);
        CHECK(r.live[0].id == "a");
        CHECK(r.live[0].next_seq == 12);
    }

    TEST_CASE("a torn last line is ignored; an unreadable line is skipped and counted") {
        std::string text;
        append_begin_record(text, sample(1, "a"));
        text += "X nonsense\n";
        text += "S 1 zz\n";
        append_seq_record(text, 1, 5);
        std::string torn;
        append_seq_record(torn, 1, 6);
        text += torn.substr(0, torn.size() - 1);  // no line end: the write never finished
        const auto r = replay_journal(text);
        REQUIRE(r.live.size() == 1);
        CHECK(r.live[0].next_seq == 5);
        CHECK(r.bad_records == 2);
        CHECK(r.torn_tail);
    }

    TEST_CASE("a snapshot replays to the same entries") {
        std::vector<journal_entry> live{sample(3, "c"), sample(10, "d")};
        live[1].next_seq = 77;
        CHECK(replay_journal(encode_journal_snapshot(live)).live == live);
        CHECK(replay_journal(encode_journal_snapshot({})).live.empty());
    }

    TEST_CASE("what one run leaves unfinished is what the next one finds, at the last seq") {
        temp_dir dir;
        {
            request_journal j;
            CHECK(j.open(dir.path.string(), "inflight.journal").empty());
            REQUIRE(j.enabled());
            const auto a = j.begin(sample(0, "a"));
            const auto b = j.begin(sample(0, "b"));
            const auto c = j.begin(sample(0, "c"));
            j.note_seq(a, 4);
            j.note_seq(b, 8);
            j.flush();
            j.note_seq(a, 5);
            j.ending(b, 10);  // its terminal is publish 10
            j.ending(c, 11);
            j.sweep(10);  // the broker took 10 publishes: b has ended, c not yet
            j.flush();
            CHECK(j.live() == 2);
            // Killed here: nothing else is written (the destructor only flushes an empty buffer).
        }
        request_journal next;
        const auto left = next.open(dir.path.string(), "inflight.journal");
        REQUIRE(left.size() == 2);
        CHECK(left[0].id == "a");
        CHECK(left[0].next_seq == 5);
        CHECK(left[1].id == "c");
        CHECK(left[1].next_seq == 3);
        // Compacted at open: one begin record per live entry, nothing else.
        CHECK(read_all(dir.path / "inflight.journal") == encode_journal_snapshot(left));
        // New handles do not collide with those found.
        const auto d = next.begin(sample(0, "d"));
        CHECK(d > left[1].handle);
    }

    TEST_CASE("the file stays bounded however many requests pass") {
        temp_dir dir;
        request_journal j(4096);
        j.open(dir.path.string(), "inflight.journal");
        const auto kept = j.begin(sample(0, "kept"));
        std::uint64_t ordinal = 0;
        for (int i = 0; i < 2000; ++i) {
            const auto h = j.begin(sample(0, "r" + std::to_string(i)));
            for (std::uint64_t seq = 1; seq < 10; ++seq)
                j.note_seq(h, seq);
            j.ending(h, ++ordinal);
            j.sweep(ordinal);
            j.flush();
            CHECK(j.file_bytes() <= 4096 + 1024);
        }
        j.note_seq(kept, 42);
        j.flush();
        CHECK(fs::file_size(dir.path / "inflight.journal") <= 4096 + 1024);
        const auto r = replay_journal(read_all(dir.path / "inflight.journal"));
        REQUIRE(r.live.size() == 1);
        CHECK(r.live[0].id == "kept");
        CHECK(r.live[0].next_seq == 42);
    }

    TEST_CASE("an unusable directory turns the journal off with a warning") {
        temp_dir dir;
        const auto file = dir.path / "not-a-dir";
        std::ofstream(file) << "x";
        request_journal j;
        j.open(file.string(), "inflight.journal");
        CHECK_FALSE(j.enabled());
        CHECK(j.begin(sample(0, "a")) == 0);
        CHECK(j.take_warnings().size() == 1);
    }
}

}  // namespace llmb
