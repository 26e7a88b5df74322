// Session files written off the caller's thread (daemon/sessions/session_writer.hpp), through the
// store (daemon/sessions/session_store.hpp).
//
// A FIFO in place of a session's temporary file holds the writer: its open() waits until a
// reader comes, so the tests choose exactly when the disk "is slow" without sleeping.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/sessions/session_store.hpp"
#include "daemon/sessions/session_writer.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using llmb::history_message;
using llmb::session;
using llmb::session_key;
using llmb::session_store;
using llmb::session_writer;
using namespace std::chrono_literals;

namespace {

using llmb::test::temp_dir;

session_key key(std::string name) {
    return {"llm", "dev1", std::move(name)};
}

fs::path file_of(const fs::path& dir, const session_key& k) {
    return dir / "sessions" / k.project / k.client / (k.session + ".json");
}

// The number of messages in a session's file, -1 when there is no file.
int messages_in(const fs::path& dir, const session_key& k) {
    std::ifstream in(file_of(dir, k), std::ios::binary);
    if (!in.is_open())
        return -1;
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    return static_cast<int>(nlohmann::json::parse(text)["messages"].size());
}

session with_messages(int n) {
    session s;
    for (int i = 0; i < n; ++i)
        s.messages.push_back({i % 2 == 0 ? "user" : "assistant", std::to_string(i), 0});
    return s;
}

// A FIFO where the writer puts the temporary file of session k: the write of k blocks in
// open() until release() opens the reading end (and keeps it open so the write goes through).
// The FIFO is then renamed to k's file: never read that one.
struct disk_gate {
    fs::path fifo;
    int reader = -1;
    disk_gate(const fs::path& dir, const session_key& k) {
        fifo = file_of(dir, k);
        fifo += ".tmp." + std::to_string(::getpid());
        fs::create_directories(fifo.parent_path());
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    }
    void release() {
        if (reader < 0)
            reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(reader >= 0);
    }
    ~disk_gate() {
        if (reader >= 0)
            ::close(reader);
    }
    disk_gate(const disk_gate&) = delete;
    disk_gate& operator=(const disk_gate&) = delete;
};

llmb::sessions_config config(const fs::path& dir) {
    llmb::sessions_config cfg;
    cfg.max_sessions = 1000;
    cfg.max_messages = 1000;
    cfg.ttl = 3600s;
    cfg.state_dir = dir.string();
    return cfg;
}

}  // namespace

TEST_CASE("a session change returns while the disk is held up; memory answers at once") {
    temp_dir dir;
    session_store store(
        config(dir.path), [] { return std::chrono::system_clock::now(); }, false);
    disk_gate gate(dir.path, key("gate"));
    // Written on the caller's thread, the first call would wait for the FIFO's reader: forever.
    auto changed = std::async(std::launch::async, [&] {
        store.get_or_create(key("gate"));
        store.get_or_create(key("s"));
        store.append(key("s"), {"user", "q", 0}, {"assistant", "a", 0});
    });
    const bool returned = changed.wait_for(5s) == std::future_status::ready;
    CHECK(returned);
    if (returned) {
        CHECK(store.find(key("s"))->messages.size() == 2);
        CHECK_FALSE(store.flush(50ms));  // the gate still holds the writer
        CHECK(messages_in(dir.path, key("s")) == -1);
    }
    gate.release();
    changed.wait();
    CHECK(store.flush());
    CHECK(store.take_warnings().empty());
    CHECK(messages_in(dir.path, key("s")) == 2);
}

TEST_CASE("writer: per session in order, pending states coalesced, removals in line") {
    temp_dir dir;
    session_writer writer(dir.path.string(), false);
    disk_gate gate(dir.path, key("gate"));
    writer.write(key("gate"), with_messages(1));  // the thread waits in its open()
    for (int n = 1; n <= 50; ++n)
        writer.write(key("s"), with_messages(n));
    writer.write(key("written-then-removed"), with_messages(2));
    writer.remove(key("written-then-removed"));
    writer.remove(key("removed-then-written"));
    writer.write(key("removed-then-written"), with_messages(4));
    CHECK_FALSE(writer.drain(50ms));
    gate.release();
    REQUIRE(writer.drain(10s));
    CHECK(writer.take_errors().empty());
    CHECK(messages_in(dir.path, key("s")) == 50);  // the newest state, not an older one
    CHECK(messages_in(dir.path, key("written-then-removed")) == -1);
    CHECK(messages_in(dir.path, key("removed-then-written")) == 4);
    // The gate's session and one change for each of the three others: 50 states of s became
    // one write.
    CHECK(writer.performed() == 4);
}

TEST_CASE("writer: a failure is handed back, and the owner is told from the writer thread") {
    temp_dir dir;
    session_writer writer(dir.path.string(), false);
    std::atomic<int> told{0};
    writer.set_on_error([&] { ++told; });
    // A directory where the temporary file should go: the write fails before its rename.
    auto tmp = file_of(dir.path, key("s"));
    tmp += ".tmp." + std::to_string(::getpid());
    fs::create_directories(tmp);
    writer.write(key("s"), with_messages(2));
    REQUIRE(writer.drain(10s));
    CHECK(told == 1);
    const auto errors = writer.take_errors();
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("llm/dev1/s not saved") != std::string::npos);
    CHECK(messages_in(dir.path, key("s")) == -1);
}

TEST_CASE("the store drains its writer when it ends: a restart reads every last state") {
    temp_dir dir;
    const auto cfg = config(dir.path);
    {
        session_store store(cfg, [] { return std::chrono::system_clock::now(); });  // fsync
        for (int s = 0; s < 50; ++s) {
            const auto k = key("s" + std::to_string(s));
            store.get_or_create(k);
            for (int turn = 0; turn < 3; ++turn)
                store.append(k, {"user", "q", 0}, {"assistant", "a", 0});
        }
        store.get_or_create(key("deleted"));
        store.append(key("deleted"), {"user", "q", 0}, {"assistant", "a", 0});
        CHECK(store.erase(key("deleted")));
    }  // no flush: the destructor drains
    session_store again(cfg, [] { return std::chrono::system_clock::now(); });
    CHECK(again.load().empty());
    CHECK(again.size() == 50);
    for (int s = 0; s < 50; ++s) {
        const auto* found = again.find(key("s" + std::to_string(s)));
        REQUIRE(found != nullptr);
        CHECK(found->messages.size() == 6);
    }
    CHECK(again.find(key("deleted")) == nullptr);
}
