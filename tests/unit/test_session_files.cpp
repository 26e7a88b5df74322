// The session files behind the store (daemon/sessions/session_files.hpp, session_codec.hpp):
// the exact format, damaged files at load, and atomic replacement.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/sessions/session_store.hpp"
#include "session_support.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using llmb::session_store;
using llmb::test::a;
using llmb::test::any_contains;
using llmb::test::config;
using llmb::test::contents;
using llmb::test::file_of;
using llmb::test::key;
using llmb::test::read_text;
using llmb::test::temp_dir;
using llmb::test::test_clock;
using llmb::test::tmp_files;
using llmb::test::u;
using llmb::test::write_text;
using namespace std::chrono_literals;

TEST_CASE("the session file's bytes are fixed, and such a file loads") {
    temp_dir dir;
    test_clock clock;
    const auto cfg = config(10, 50, 3600s, dir.path.string());
    const std::string expected =
        R"({"client":"dev1","created_ms":1700000000000,"last_used_ms":1700000005000,)"
        R"("messages":[{"content":"Grüße \"q\"\n","role":"user","tokens":3},)"
        R"({"content":"r","role":"assistant","tokens":0}],"project":"llm","session":"s1",)"
        R"("system":"Be brief.","version":1})"
        "\n";
    {
        session_store store(cfg, clock.fn(), false);
        store.set_system(key("s1"), "Be brief.");
        clock.now += 5s;
        store.append(key("s1"), u("Grüße \"q\"\n", 3), a("r"));
        CHECK(store.flush());
        CHECK(read_text(file_of(dir.path, key("s1"))) == expected);
        store.get_or_create(key("s2"));
        CHECK(store.flush());
        CHECK(read_text(file_of(dir.path, key("s2"))) ==
              R"({"client":"dev1","created_ms":1700000005000,"last_used_ms":1700000005000,)"
              R"("messages":[],"project":"llm","session":"s2","system":null,"version":1})"
              "\n");
    }
    fs::remove_all(dir.path / "sessions");
    write_text(file_of(dir.path, key("s1")), expected);
    session_store again(cfg, clock.fn(), false);
    CHECK(again.load().empty());
    const auto* s = again.find(key("s1"));
    REQUIRE(s != nullptr);
    CHECK(s->system == "Be brief.");
    CHECK(contents(*s) == std::vector<std::string>{"user:Grüße \"q\"\n", "assistant:r"});
    CHECK(again.list("llm", "dev1").front().session == "s1");
}

TEST_CASE("load skips corrupt and unexpected files with a warning and removes stale tmp files") {
    temp_dir dir;
    test_clock clock;
    const auto cfg = config(10, 50, 3600s, dir.path.string());
    {
        session_store store(cfg, clock.fn(), false);
        store.append(key("good"), u("q"), a("r"));  // no session yet: not stored
        store.get_or_create(key("good"));
        store.append(key("good"), u("q"), a("r"));
        store.get_or_create(key("other"));
    }
    const auto sessions = dir.path / "sessions";
    write_text(file_of(dir.path, key("bad")), "{\"version\":1,\"messages\":[");  // torn
    write_text(file_of(dir.path, key("empty")), "");
    // A valid file copied to another session's place.
    fs::copy_file(file_of(dir.path, key("other")), file_of(dir.path, key("moved")));
    write_text(sessions / "llm" / "dev1" / "notes.txt", "hello");
    write_text(sessions / "llm" / "dev1" / "good.json.tmp.4242", "{\"half");
    write_text(sessions / "llm" / "bad name!" / "x.json", "{}");
    write_text(sessions / "stray-file", "x");

    session_store store(cfg, clock.fn(), false);
    const auto warnings = store.load();
    CHECK(warnings.size() == 7);
    CHECK(any_contains(warnings, "bad.json"));
    CHECK(any_contains(warnings, "empty.json"));
    CHECK(any_contains(warnings, "moved.json: project/client/session do not match"));
    CHECK(any_contains(warnings, "notes.txt"));
    CHECK(any_contains(warnings, "removed stale temporary file"));
    CHECK(any_contains(warnings, "bad name!"));
    CHECK(any_contains(warnings, "stray-file"));
    CHECK(store.size() == 2);
    CHECK(contents(*store.find(key("good"))) == std::vector<std::string>{"user:q", "assistant:r"});
    CHECK(store.find(key("bad")) == nullptr);
    CHECK(store.find(key("moved")) == nullptr);
    CHECK_FALSE(fs::exists(sessions / "llm" / "dev1" / "good.json.tmp.4242"));
    // Skipped files are left for a human to look at.
    CHECK(fs::exists(file_of(dir.path, key("bad"))));
}

TEST_CASE("a change is written through a temporary file: a failed write leaves the old file") {
    temp_dir dir;
    test_clock clock;
    const auto cfg = config(10, 50, 3600s, dir.path.string());
    session_store store(cfg, clock.fn());
    store.get_or_create(key("s"));
    store.append(key("s"), u("1"), a("1"));
    CHECK(store.flush());
    const auto file = file_of(dir.path, key("s"));
    const std::string before = read_text(file);
    CHECK(nlohmann::json::parse(before)["messages"].size() == 2);

    // Something in the way of the temporary file: the write fails before the rename.
    const auto tmp = file.parent_path() / ("s.json.tmp." + std::to_string(::getpid()));
    fs::create_directory(tmp);
    CHECK(store.append(key("s"), u("2"), a("2")));
    CHECK(store.flush());
    auto warnings = store.take_warnings();
    REQUIRE(warnings.size() == 1);
    CHECK(any_contains(warnings, "not saved"));
    CHECK(read_text(file) == before);                   // untouched
    CHECK(store.find(key("s"))->messages.size() == 4);  // memory is right
    fs::remove(tmp);
    store.append(key("s"), u("3"), a("3"));
    CHECK(store.flush());
    CHECK(store.take_warnings().empty());
    CHECK(nlohmann::json::parse(read_text(file))["messages"].size() == 6);
    CHECK(tmp_files(dir.path) == 0);

    if (::geteuid() == 0) {
        MESSAGE(
            "running as root: directory permissions do not stop writes, read-only part "
            "skipped");
        return;
    }
    // A read-only directory: no temporary file can be made, the old file stays whole.
    const std::string good = read_text(file);
    fs::permissions(file.parent_path(), fs::perms::owner_read | fs::perms::owner_exec);
    CHECK(store.append(key("s"), u("4"), a("4")));
    CHECK(store.erase(key("other")) == false);
    CHECK(store.flush());
    warnings = store.take_warnings();
    REQUIRE(warnings.size() == 1);
    CHECK(any_contains(warnings, "Permission denied"));
    CHECK(read_text(file) == good);
    CHECK(store.find(key("s"))->messages.size() == 8);
    // Erasing cannot remove the file either: reported, and gone from memory all the same.
    CHECK(store.erase(key("s")));
    CHECK(store.flush());
    CHECK(store.take_warnings().size() == 1);
    CHECK(store.size() == 0);
    fs::permissions(file.parent_path(), fs::perms::owner_all);
}
