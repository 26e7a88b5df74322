// Malformed requests and cancels: every bad request gets exactly one error event with the right
// code, under its id when it has a valid one; nothing crashes the bridge.
#include <doctest/doctest.h>

#include <algorithm>

#include "checks.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;

enum class answer_id { own, generated, either };

struct bad_case {
    std::string name;
    std::string payload;
    std::string code;
    answer_id where;
};

// A valid request with id `id` whose field `key` is replaced by value (or removed when null).
std::string with(const std::string& id, const std::string& key, const nlohmann::json& value) {
    nlohmann::json r = {{"id", id}, {"prompt", mock_prompt("echo", "fine")}};
    if (value.is_null()) {
        r.erase(key);
    } else {
        r[key] = value;
    }
    return r.dump();
}

std::string with_messages(const std::string& id, const nlohmann::json& messages) {
    return nlohmann::json{{"id", id}, {"messages", messages}}.dump();
}

std::vector<bad_case> bad_cases() {
    const std::string bad = "bad_request";
    const auto own = answer_id::own;
    const auto gen = answer_id::generated;
    auto user = [](const nlohmann::json& content) {
        return nlohmann::json{{"role", "user"}, {"content", content}};
    };
    std::vector<bad_case> v = {
        {"not json", "this is not json", bad, gen},
        {"truncated json", R"({"id":"x1","prompt":"hi")", bad, answer_id::either},
        {"json array", R"([{"id":"x2","prompt":"hi"}])", bad, gen},
        {"json string", R"("hello")", bad, gen},
        {"json number", "42", bad, gen},
        {"json null", "null", bad, gen},
        {"empty payload", "", bad, gen},
        {"invalid utf-8", "{\"prompt\":\"caf\xc3\x28 \xff\xfe\"}", bad, gen},
        {"id of wrong type", R"({"id":42,"prompt":"hi"})", bad, gen},
        {"id too long", with(std::string(65, 'a'), "prompt", "hi"), bad, gen},
        {"id empty", with("", "prompt", "hi"), bad, gen},
        {"id with slash", with("a/b", "prompt", "hi"), bad, gen},
        {"id with plus", with("a+b", "prompt", "hi"), bad, gen},
        {"id with hash", with("a#b", "prompt", "hi"), bad, gen},
        {"neither messages nor prompt", with("c1", "prompt", nullptr), bad, own},
        {"both messages and prompt", with("c2", "messages", nlohmann::json::array({user("hi")})),
         bad, own},
        {"empty messages", with_messages("c3", nlohmann::json::array()), bad, own},
        {"messages not an array", with_messages("c4", "hi"), bad, own},
        {"a message not an object", with_messages("c5", nlohmann::json::array({"hi"})), bad, own},
        {"bad role",
         with_messages("c6", nlohmann::json::array({{{"role", "wizard"}, {"content", "hi"}}})), bad,
         own},
        {"message without role", with_messages("c7", nlohmann::json::array({{{"content", "hi"}}})),
         bad, own},
        {"content of wrong type", with_messages("c8", nlohmann::json::array({user(42)})), bad, own},
        {"prompt of wrong type", with("c9", "prompt", nlohmann::json::array({"hi"})), bad, own},
        {"temperature as string", with("d1", "temperature", "0.5"), bad, own},
        {"temperature out of range", with("d2", "temperature", 3.5), bad, own},
        {"top_p above 1", with("d3", "top_p", 1.5), bad, own},
        {"max_tokens 0", with("d4", "max_tokens", 0), bad, own},
        {"max_tokens float", with("d5", "max_tokens", 1.5), bad, own},
        {"max_tokens negative", with("d6", "max_tokens", -3), bad, own},
        {"max_tokens huge", with("d7", "max_tokens", 100000000), "too_large", own},
        {"stop not strings", with("d8", "stop", nlohmann::json::array({1, 2})), bad, own},
        {"stream as string", with("d9", "stream", "yes"), bad, own},
        {"max_packet below the minimum", with("e1", "max_packet", 64), bad, own},
        {"flush_ms negative", with("e2", "flush_ms", -5), bad, own},
        {"tools not an array", with("e3", "tools", "search"), bad, own},
        {"tool without a name",
         with("e4", "tools",
              nlohmann::json::parse(R"([{"type":"function","function":{"parameters":{}}}])")),
         bad, own},
        {"session with slash", with("e5", "session", "a/b"), bad, own},
        {"model of wrong type", with("e6", "model", 7), bad, own},
    };
    // Over 256 KiB. Whether the bridge reads the id of a payload it refuses for its size is its
    // choice: either id is fine, exactly one error is not negotiable.
    nlohmann::json big = {{"id", "big1"}, {"prompt", std::string(300 * 1024, 'x')}};
    v.push_back({"payload over 256 KiB", big.dump(), "too_large", answer_id::either});
    return v;
}

TEST_SUITE("malformed") {
    TEST_CASE("bad requests are each answered by exactly one error event") {
        stack st;
        test_client c(st.mqtt.url());
        auto cases = bad_cases();
        REQUIRE(cases.size() >= 25);
        // All are sent before any answer is awaited: one bad request must not hold up another.
        for (std::size_t i = 0; i < cases.size(); ++i) {
            std::string client = "mal" + std::to_string(i);
            c.subscribe(c.prefix() + "/response/" + client + "/+");
            c.publish_raw_request(client, cases[i].payload);
        }
        for (std::size_t i = 0; i < cases.size(); ++i) {
            const auto& bc = cases[i];
            CAPTURE(bc.name);
            std::string client = "mal" + std::to_string(i);
            auto s = c.collect(c.prefix() + "/response/" + client + "/+", 10s);
            check_error(s, bc.code);
            INFO(s.summary());
            CHECK(s.events.size() == 1);
            auto j = nlohmann::json::parse(bc.payload, nullptr, false);
            bool has_id = j.is_object() && j.contains("id") && j["id"].is_string();
            std::string own_id = has_id ? j["id"].get<std::string>() : std::string();
            if (bc.where == answer_id::own) {
                CHECK(s.id == own_id);
            } else if (bc.where == answer_id::generated) {
                CHECK(!s.id.empty());
                CHECK(s.id != own_id);
            }
        }
        // Nothing further arrived for any of them by the time a good request is answered.
        check_serving(c, "good", "g1");
        for (std::size_t i = 0; i < cases.size(); ++i) {
            CAPTURE(cases[i].name);
            std::string filter = c.prefix() + "/response/mal" + std::to_string(i) + "/+";
            auto n = std::count_if(c.inbox().begin(), c.inbox().end(), [&](const received& m) {
                return topic_matches(filter, m.topic);
            });
            CHECK(n == 1);
        }
        CHECK(st.br.proc().running());
    }

    TEST_CASE("malformed cancels and cancels for unknown ids change nothing") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe_client("cx");
        for (const char* payload :
             {"", "not json", "[]", "null", R"({"id":5})", R"({"id":"a/b"})", R"({"nope":1})",
              R"({"id":"never-sent"})", "{\"id\":\"\xff\"}"}) {
            c.publish_cancel("cx", payload);
        }
        // A cancel for a request that already finished.
        c.publish_request("cx", echo_request("fin", "finished already"));
        auto fin = c.collect("cx", "fin", 10s);
        check_done(fin, "finished already");
        c.publish_cancel("cx", R"({"id":"fin"})");

        check_serving(c, "cx", "after");
        CHECK(st.br.proc().running());
        // The finished request got nothing more from its late cancel.
        c.refresh(fin);
        INFO(fin.summary());
        CHECK(fin.assembler.violations().empty());
        CHECK(fin.terminals() == 1);
    }
}

}  // namespace
}  // namespace llmb::itest
