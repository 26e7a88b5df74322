// A generated corpus of over 1,000 malformed and mutated requests sent to the running bridge.
// The expected outcome of each comes from the protocol's own decoder (decode_request): where it
// refuses, the bridge must answer exactly one error with the same code, under the request's id
// when the decoder kept it and a generated one otherwise; where it accepts, the request must
// end with exactly one terminal event. Afterwards the bridge is running and serves normally.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "checks.hpp"
#include "protocol/request.hpp"

namespace llmb::itest {
namespace {

using namespace std::chrono_literals;
namespace lp = llmb::protocol;

constexpr std::size_t k_cases = 1200;
constexpr std::uint32_t k_seed = 20261202;

// Valid requests that the mutations start from ("ID" becomes the case's id).
const std::vector<std::string>& templates() {
    static const std::vector<std::string> t = {
        R"({"id":"ID","prompt":"#mock echo\nhello there"})",
        R"({"id":"ID","messages":[{"role":"system","content":"be brief"},)"
        R"({"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":20})",
        R"({"id":"ID","prompt":"x","stream":false,"stop":["a","b"],"top_p":0.9,"seed":3})",
        R"({"id":"ID","prompt":"find it","tools":[{"type":"function","function":)"
        R"({"name":"search","parameters":{"type":"object","properties":{}}}}],)"
        R"("tool_choice":"auto"})",
        R"({"id":"ID","prompt":"x","max_packet":256,"flush_ms":10,"session":"s1",)"
        R"("model":"m"})",
        R"({"id":"ID","messages":[{"role":"user","content":[{"type":"text","text":"a"}]},)"
        R"({"role":"assistant","content":null,"tool_calls":[]},{"role":"user","content":"b"}]})",
    };
    return t;
}

const std::vector<std::string>& fields() {
    static const std::vector<std::string> f = {"id",       "prompt",      "messages", "temperature",
                                               "top_p",    "max_tokens",  "stop",     "seed",
                                               "tools",    "tool_choice", "stream",   "max_packet",
                                               "flush_ms", "session",     "model",    "extra"};
    return f;
}

// JSON texts of values of every type and edge.
const std::vector<std::string>& values() {
    static const std::vector<std::string> v = {"null",
                                               "true",
                                               "false",
                                               "0",
                                               "-1",
                                               "1.5",
                                               "1e308",
                                               "-1e308",
                                               "4294967296",
                                               "32769",
                                               R"("")",
                                               R"("x")",
                                               R"("a/b")",
                                               R"("a+b#")",
                                               "\"" + std::string(65, 'a') + "\"",
                                               "\"caf\xc3\x28\"",
                                               "\"\xff\xfe\"",
                                               R"("\u0000")",
                                               R"("\ud800")",
                                               "[]",
                                               "{}",
                                               "[1,2]",
                                               R"(["a","b","c","d","e","f","g","h","i"])",
                                               R"({"role":"user"})",
                                               R"([{"role":"user","content":"hi"}])",
                                               R"([{"role":"wizard","content":"hi"}])",
                                               R"([{"content":"hi"}])",
                                               R"([{"role":"user","content":42}])",
                                               "\"" + std::string(2000, 'y') + "\"",
                                               std::string(80, '[') + std::string(80, ']')};
    return v;
}

const std::vector<std::string>& nasty_bytes() {
    static const std::vector<std::string> b = {std::string(1, '\0'),
                                               "\xff",
                                               "\xc3\x28",
                                               "\"",
                                               "\\",
                                               "{",
                                               "}",
                                               "[",
                                               "]",
                                               ",",
                                               ":",
                                               "\xe2\x82",
                                               "\xf0\x9f\x99",
                                               "\n",
                                               "\t",
                                               " ",
                                               "\x7f"};
    return b;
}

// One mutated request: the template with its id, changed by one of several kinds of damage.
std::string mutate(std::mt19937& rng, const std::string& id) {
    auto pick = [&](std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };
    std::string s = templates()[pick(templates().size())];
    s.replace(s.find("ID"), 2, id);
    switch (pick(9)) {
        case 0:  // truncated
            s.resize(pick(s.size()));
            break;
        case 1:  // one to three bytes changed
            for (std::size_t n = pick(3) + 1; n > 0; --n) {
                s[pick(s.size())] = static_cast<char>(pick(256));
            }
            break;
        case 2:  // a byte sequence that breaks JSON or UTF-8 put in
            s.insert(pick(s.size() + 1), nasty_bytes()[pick(nasty_bytes().size())]);
            break;
        case 3: {  // a range cut out
            const std::size_t at = pick(s.size());
            s.erase(at, pick(s.size() - at) + 1);
            break;
        }
        case 4:    // a field set to a value of another type or out of range
        case 5: {  // (twice as often as the others)
            const std::string key = fields()[pick(fields().size())];
            const std::string entry = "\"" + key + "\":" + values()[pick(values().size())];
            // A key given twice: the decoder and the bridge read the same (the last one).
            s.insert(s.size() - 1, "," + entry);
            break;
        }
        case 6: {  // a field removed (the first key whose name matches)
            const std::string key = "\"" + fields()[pick(fields().size())] + "\":";
            if (const auto at = s.find(key); at != std::string::npos) {
                s.erase(at, key.size());
            }
            break;
        }
        case 7: {  // nested deep
            const std::size_t depth = 40 + pick(60);
            s = std::string(depth, '[') + s + std::string(depth, ']');
            break;
        }
        default:  // over the size limit
            s.insert(s.size() - 1, ",\"pad\":\"" + std::string(260 * 1024, 'p') + "\"");
            break;
    }
    return s;
}

// The start of a payload with control and non-ASCII bytes as \xNN, for failure messages.
std::string printable_excerpt(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < 160; ++i) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b >= 0x20 && b < 0x7f) {
            out += static_cast<char>(b);
        } else {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", b);
            out += hex;
        }
    }
    return s.size() > 160 ? out + "... (" + std::to_string(s.size()) + " bytes)" : out;
}

TEST_SUITE("corpus") {
    TEST_CASE("over 1,000 generated malformed requests: each gets exactly the decoder's answer") {
        stack st;
        test_client c(st.mqtt.url());
        c.subscribe(c.prefix() + "/response/#");

        std::mt19937 rng(k_seed);
        std::vector<std::string> payloads;
        std::vector<lp::decoded_request> expected;
        for (std::size_t i = 0; i < k_cases; ++i) {
            payloads.push_back(mutate(rng, "k" + std::to_string(i)));
            expected.push_back(lp::decode_request(payloads.back(), lp::request_limits{}, "gen"));
        }
        // One client name per case: per-client limits stay out of it, and each answer is known
        // by its topic whatever its id.
        for (std::size_t i = 0; i < k_cases; ++i) {
            c.publish_raw_request("k" + std::to_string(i), payloads[i]);
        }

        std::map<std::string, std::size_t> outcomes;
        for (std::size_t i = 0; i < k_cases; ++i) {
            CAPTURE(i);
            CAPTURE(printable_excerpt(payloads[i]));
            auto s = c.collect(c.prefix() + "/response/k" + std::to_string(i) + "/+", 30s);
            INFO(s.summary());
            check_well_formed(s);
            const auto& want = expected[i];
            const std::string type = s.last().value("type", std::string());
            if (want.err) {
                const std::string code(lp::to_string(want.err->code));
                REQUIRE(type == "error");
                CHECK(s.last()["code"] == code);
                CHECK(s.events.size() == 1);
                ++outcomes["refused " + code];
            } else {
                // Accepted by the decoder: the rest (the server's answer, the packet limit for
                // this topic) decides between done and error, but there is exactly one.
                CHECK((type == "done" || type == "error"));
                ++outcomes["accepted, then " + type];
            }
            if (want.id_generated) {
                CHECK(!s.id.empty());
                CHECK(s.id != "gen");
            } else {
                CHECK(s.id == want.id);
            }
        }
        std::string summary;
        for (const auto& [what, n] : outcomes) {
            summary += (summary.empty() ? "" : ", ") + what + ": " + std::to_string(n);
        }
        MESSAGE(k_cases << " cases: " << summary);
        CHECK(outcomes.size() >= 3);  // the corpus really mixes refusals and accepted requests

        test_client other(st.mqtt.url());
        check_serving(other, "after", "a1");
        // Nothing more came for any case by the time the good request was answered.
        for (std::size_t i = 0; i < k_cases; ++i) {
            const std::string filter = c.prefix() + "/response/k" + std::to_string(i) + "/+";
            const auto n =
                std::count_if(c.inbox().begin(), c.inbox().end(),
                              [&](const received& m) { return topic_matches(filter, m.topic); });
            if (expected[i].err) {
                CHECK_MESSAGE(n == 1, "case " << i);
            }
        }
        CHECK(st.br.proc().running());
    }
}

}  // namespace
}  // namespace llmb::itest
