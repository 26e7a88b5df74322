// The file format of one session (daemon/sessions/session_codec.hpp): round trips, the exact
// bytes, and what a hostile or damaged file gets.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/sessions/session_codec.hpp"

using llmb::decode_session_file;
using llmb::encode_session_file;
using llmb::session;
using llmb::session_file_error;
using llmb::session_key;
using namespace std::chrono_literals;

namespace {

const session_key place{"llm", "dev1", "s1"};

std::chrono::system_clock::time_point at(std::chrono::milliseconds ms) {
    return std::chrono::system_clock::time_point{} + ms;
}

session sample() {
    session s;
    s.system = "Be brief. \"quoted\"\n";
    s.created = at(1'700'000'000'123ms);
    s.last_used = at(1'700'000'005'456ms);
    s.messages = {{"user", "Grüße, 你好 {\"json\": [1]}", 7},
                  {"assistant", "", 4'294'967'295u},
                  {"user", "again", 0},
                  {"tool", "\t\x01 control", 1}};
    return s;
}

void check_same(const session& a, const session& b) {
    CHECK(a.system == b.system);
    CHECK(a.created == b.created);
    CHECK(a.last_used == b.last_used);
    REQUIRE(a.messages.size() == b.messages.size());
    for (std::size_t i = 0; i < a.messages.size(); ++i) {
        CHECK(a.messages[i].role == b.messages[i].role);
        CHECK(a.messages[i].content == b.messages[i].content);
        CHECK(a.messages[i].tokens == b.messages[i].tokens);
    }
}

session_file_error refusal(const std::string& text) {
    const auto d = decode_session_file(text, place);
    CHECK_FALSE(d.value.has_value());
    return d.error;
}

// A valid file with one field's value replaced by raw JSON (or removed when value is empty).
std::string with_field(const std::string& name, const std::string& value) {
    std::string out = "{";
    const std::vector<std::pair<std::string, std::string>> fields = {
        {"client", R"("dev1")"}, {"created_ms", "1"},
        {"last_used_ms", "2"},   {"messages", R"([{"content":"c","role":"user","tokens":1}])"},
        {"project", R"("llm")"}, {"session", R"("s1")"},
        {"system", "null"},      {"version", "1"}};
    for (const auto& [k, v] : fields) {
        const std::string& text = k == name ? value : v;
        if (text.empty())
            continue;
        out += (out.size() > 1 ? "," : "") + ("\"" + k + "\":") + text;
    }
    return out + "}";
}

}  // namespace

TEST_CASE("session file: a round trip keeps everything, without a system text too") {
    const auto s = sample();
    const auto d = decode_session_file(encode_session_file(place, s), place);
    REQUIRE(d.value.has_value());
    check_same(*d.value, s);

    session empty;
    empty.created = empty.last_used = at(0ms);
    const auto e = decode_session_file(encode_session_file(place, empty), place);
    REQUIRE(e.value.has_value());
    CHECK_FALSE(e.value->system.has_value());
    check_same(*e.value, empty);

    // Times before the epoch and an empty system text are values like any other.
    empty.created = at(-5ms);
    empty.system = "";
    const auto n = decode_session_file(encode_session_file(place, empty), place);
    REQUIRE(n.value.has_value());
    check_same(*n.value, empty);
}

TEST_CASE("session file: the exact bytes, one line with keys sorted") {
    session s;
    s.system = "Be brief.";
    s.created = at(1'700'000'000'000ms);
    s.last_used = at(1'700'000'005'000ms);
    s.messages = {{"user", "Grüße \"q\"\n", 3}, {"assistant", "r", 0}};
    CHECK(encode_session_file(place, s) ==
          R"({"client":"dev1","created_ms":1700000000000,"last_used_ms":1700000005000,)"
          R"("messages":[{"content":"Grüße \"q\"\n","role":"user","tokens":3},)"
          R"({"content":"r","role":"assistant","tokens":0}],"project":"llm","session":"s1",)"
          R"("system":"Be brief.","version":1})"
          "\n");
}

TEST_CASE("session file: invalid UTF-8 in a text is replaced, and the file still reads") {
    session s;
    s.system = std::string("sys\xff");
    s.messages = {{"user", std::string("a\xc3(b"), 0}, {"assistant", "ok", 0}};
    const auto text = encode_session_file(place, s);
    const auto d = decode_session_file(text, place);
    REQUIRE(d.value.has_value());
    CHECK(*d.value->system == "sys\xEF\xBF\xBD");
    CHECK(d.value->messages[0].content == "a\xEF\xBF\xBD(b");
    CHECK(d.value->messages[1].content == "ok");
}

TEST_CASE("session file: unknown keys are ignored, a file at another place is refused") {
    const auto ok =
        decode_session_file(with_field("system", R"("x","future_field":{"a":[1,2]})"), place);
    REQUIRE(ok.value.has_value());
    CHECK(ok.value->system == "x");
    CHECK(ok.value->messages.size() == 1);
    CHECK(ok.value->last_used == at(2ms));

    // A valid file copied or moved to another session's, client's or project's place.
    const auto text = encode_session_file(place, sample());
    for (const session_key& other :
         {session_key{"llm", "dev1", "s2"}, session_key{"llm", "dev2", "s1"},
          session_key{"maze", "dev1", "s1"}}) {
        const auto d = decode_session_file(text, other);
        CHECK_FALSE(d.value.has_value());
        CHECK(d.error == session_file_error::wrong_place);
    }
}

TEST_CASE("session file: damaged and hostile contents are refused with the reason") {
    using e = session_file_error;
    const struct {
        std::string text;
        session_file_error error;
    } cases[] = {
        {"", e::not_an_object},
        {"\n", e::not_an_object},
        {R"({"version":1,"messages":[)", e::not_an_object},  // torn by a crash
        {"[1,2]", e::not_an_object},
        {R"("a string")", e::not_an_object},
        {"null", e::not_an_object},
        {std::string("{\"version\":1\0}", 14), e::not_an_object},
        {with_field("version", ""), e::bad_version},
        {with_field("version", "2"), e::bad_version},
        {with_field("version", R"("1")"), e::bad_version},
        {with_field("version", "1.0"), e::bad_version},
        {with_field("project", ""), e::wrong_place},
        {with_field("client", "null"), e::wrong_place},
        {with_field("session", R"("../s1")"), e::wrong_place},
        {with_field("session", R"(["s1"])"), e::wrong_place},
        {with_field("system", "42"), e::bad_system},
        {with_field("system", R"({"text":"x"})"), e::bad_system},
        {with_field("created_ms", ""), e::bad_times},
        {with_field("created_ms", "1.5"), e::bad_times},
        {with_field("last_used_ms", R"("2")"), e::bad_times},
        {with_field("last_used_ms", "1e3"), e::bad_times},
        {with_field("messages", ""), e::messages_not_array},
        {with_field("messages", "{}"), e::messages_not_array},
        {with_field("messages", "[1]"), e::bad_message},
        {with_field("messages", R"([{"role":"user","content":"c"}])"), e::bad_message},
        {with_field("messages", R"([{"role":"user","content":"c","tokens":-1}])"), e::bad_message},
        {with_field("messages", R"([{"role":"user","content":"c","tokens":1.5}])"), e::bad_message},
        {with_field("messages", R"([{"role":"user","content":"c","tokens":4294967296}])"),
         e::bad_message},
        {with_field("messages", R"([{"role":1,"content":"c","tokens":1}])"), e::bad_message},
        {with_field("messages", R"([{"role":"user","content":null,"tokens":1}])"), e::bad_message},
        // One good message does not save a bad one after it.
        {with_field("messages", R"([{"role":"user","content":"c","tokens":1},[]])"),
         e::bad_message},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        CHECK(refusal(c.text) == c.error);
    }
    // The reasons are the lines a skipped file's warning shows.
    CHECK(llmb::describe(e::wrong_place) == "project/client/session do not match the file's place");
    CHECK(llmb::describe(e::messages_not_array) == "messages is not an array");
    // The fields as with_field builds them are a valid file: the cases above fail for their
    // one change only.
    CHECK(decode_session_file(with_field("", ""), place).value.has_value());
}

TEST_CASE("session file: deep nesting and large numbers do not crash the reader") {
    const std::string deep = std::string(10000, '[') + std::string(10000, ']');
    CHECK(refusal(deep) == session_file_error::not_an_object);
    CHECK(refusal(with_field("system", std::string(5000, '[') + std::string(5000, ']'))) ==
          session_file_error::bad_system);
    CHECK(refusal(with_field("created_ms", "99999999999999999999999")) ==
          session_file_error::bad_times);
    // Integers whose milliseconds would overflow the clock's nanoseconds.
    for (const char* ms : {"9223372036854775807", "18446744073709551615", "-9223372036854775808",
                           "9223372036854776"}) {
        CAPTURE(ms);
        CHECK(refusal(with_field("created_ms", ms)) == session_file_error::times_out_of_range);
        CHECK(refusal(with_field("last_used_ms", ms)) == session_file_error::times_out_of_range);
    }
    // The largest that fits still reads.
    const auto fits = decode_session_file(with_field("last_used_ms", "9223372036854"), place);
    REQUIRE(fits.value.has_value());
    CHECK(fits.value->last_used.time_since_epoch() == std::chrono::milliseconds(9223372036854));
}
