// Fuzz target: the incremental SSE parser and the OpenAI stream decoder behind it, and the
// decoders of whole bodies. The input's first bytes choose how the rest is cut into reads, the
// parser's event bound and an HTTP status; the rest is the body a server sent.
//   byte 0: bits 0-2 the number of read lengths that follow (0: one read), bits 3-4 the event
//           bound, bits 5-7 the HTTP status given to decode_error_body
//   then the read lengths (one byte each, used in turn until the body is consumed)
// Feeding the body in those reads must give exactly the events, state and failure of feeding it
// at once; every event then goes through decode_stream_event and a tool_call_accumulator, and
// the whole body through decode_whole_response and decode_error_body.
#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "protocol/json_text.hpp"
#include "protocol/openai.hpp"
#include "protocol/sse.hpp"

namespace {

namespace lp = llmb::protocol;
using llmb::fuzz::require;

constexpr std::size_t max_message_bytes = 300;  // what decoders promise for messages
constexpr std::array<std::size_t, 4> event_bounds = {16 * 1024 * 1024, 4096, 256, 16};
constexpr std::array<long, 8> statuses = {400, 401, 404, 429, 500, 503, 0, -1};

bool same_events(const std::vector<lp::sse_event>& a, const std::vector<lp::sse_event>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].error != b[i].error) {
            return false;
        }
    }
    return true;
}

bool has_control(std::string_view s) {
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7f) {
            return true;
        }
    }
    return false;
}

// An error message meant for an error event: non-empty, short, on one line, and valid UTF-8
// whenever what it came from was.
void check_message(std::string_view message, bool input_utf8, const char* what) {
    require(!message.empty(), what);
    require(message.size() <= max_message_bytes, what);
    require(!has_control(message), what);
    if (input_utf8) {
        require(lp::valid_utf8(message), what);
    }
}

void check_event(const lp::sse_event& ev, std::size_t bound, bool input_utf8) {
    require(ev.event.size() + ev.data.size() + ev.error.size() <= bound,
            "an event stays within the parser's bound");
    require(ev.event.find_first_of("\r\n") == std::string::npos, "an event name is one line");
    require(ev.data.find('\r') == std::string::npos && ev.error.find('\r') == std::string::npos,
            "event fields hold no CR");
    if (input_utf8) {
        require(lp::valid_utf8(ev.event) && lp::valid_utf8(ev.data) && lp::valid_utf8(ev.error),
                "events of a UTF-8 stream are UTF-8");
    }
}

void check_delta(const lp::stream_delta& d, bool input_utf8) {
    require(!(d.error && d.malformed), "a delta is an error or malformed, not both");
    if (d.error) {
        check_message(*d.error, input_utf8, "a stream error has a short one-line message");
    }
    if (d.malformed) {
        require(!d.malformed->empty(), "a malformed delta says why");
    }
    if (d.done) {
        require(!d.error && !d.malformed && d.content.empty() && d.tool_calls.empty(),
                "[DONE] carries nothing else");
    }
    if (d.error || d.malformed) {
        require(
            d.content.empty() && d.reasoning.empty() && d.tool_calls.empty() && !d.finish_reason,
            "an unreadable event carries no content");
    }
}

void check_whole(std::string_view body, bool input_utf8) {
    const auto r = lp::decode_whole_response(body);
    require(!(r.error && r.malformed), "a whole response is an error or malformed, not both");
    if (r.error) {
        check_message(*r.error, input_utf8, "a whole-response error has a short message");
    }
    if (r.malformed) {
        require(!r.malformed->empty(), "a malformed whole response says why");
    }
    if (!r.tool_calls_json.empty()) {
        const auto calls = nlohmann::json::parse(r.tool_calls_json, nullptr, false);
        require(calls.is_array() && !calls.empty(), "tool_calls_json is a non-empty array");
        for (const auto& call : calls) {
            require(call.is_object() && call.contains("function") && call["function"].is_object() &&
                        call["function"].contains("arguments") &&
                        call["function"]["arguments"].is_string(),
                    "whole tool calls carry string arguments");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    llmb::fuzz::input_reader in(data, size);
    const std::uint8_t control = in.byte();
    const std::size_t bound = event_bounds[(control >> 3) & 3U];
    const long status = statuses[(control >> 5) & 7U];
    std::vector<std::size_t> lengths;
    for (unsigned i = 0; i < (control & 7U); ++i) {
        lengths.push_back(in.byte());
    }
    const std::string_view body = in.rest();
    const bool input_utf8 = lp::valid_utf8(body);

    lp::sse_parser whole(bound);
    std::vector<lp::sse_event> at_once;
    const bool whole_ok = whole.feed(body, at_once);
    require(whole_ok == !whole.failed(), "feed returns false exactly when failed");

    lp::sse_parser cut(bound);
    std::vector<lp::sse_event> in_pieces;
    std::string_view rest = body;
    std::size_t k = 0;
    std::size_t idle = 0;  // reads in a row that took nothing
    while (!rest.empty() && !lengths.empty() && idle < lengths.size()) {
        const auto piece = rest.substr(0, lengths[k % lengths.size()]);
        ++k;
        idle = piece.empty() ? idle + 1 : 0;
        cut.feed(piece, in_pieces);
        rest.remove_prefix(piece.size());
    }
    cut.feed(rest, in_pieces);

    require(same_events(at_once, in_pieces), "reads in pieces give the events of one read");
    require(whole.failed() == cut.failed(), "reads in pieces fail as one read does");
    require(whole.has_partial() == cut.has_partial(), "reads in pieces leave the same partial");
    if (whole.failed()) {
        require(!whole.has_partial(), "a failed parser holds nothing");
    }

    lp::tool_call_accumulator calls;
    std::set<std::uint32_t> indices;
    for (const auto& ev : at_once) {
        check_event(ev, bound, input_utf8);
        const auto d = lp::decode_stream_event(ev);
        check_delta(d, input_utf8);
        calls.add(d.tool_calls);
        for (const auto& t : d.tool_calls) {
            indices.insert(t.index);
        }
    }
    require(calls.empty() == indices.empty(), "the accumulator holds what was added");
    const auto joined = nlohmann::json::parse(calls.to_json(), nullptr, false);
    require(joined.is_array() && joined.size() == indices.size(),
            "accumulated tool calls are one JSON entry per index");

    check_whole(body, input_utf8);
    check_message(lp::decode_error_body(status, body), input_utf8,
                  "an HTTP error body gives a short one-line message");
    return 0;
}
