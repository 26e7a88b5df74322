// Requests the tests send and the checks they share. The checks use doctest assertions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "services.hpp"
#include "test_client.hpp"

namespace llmb::itest {

// "#mock <directives>\n<text>": a prompt carrying directives for the mock server.
std::string mock_prompt(std::string_view directives, std::string_view text = "question");

// {"id":id,"prompt":mock_prompt("echo " + directives, text)}; no id when id is empty.
nlohmann::json echo_request(std::string_view id, std::string_view text,
                            std::string_view directives = "");

// {"id":id,"prompt":mock_prompt(directives)}.
nlohmann::json mock_request(std::string_view id, std::string_view directives);

// A tools array with one function, "search"(query: string, n: integer).
nlohmann::json search_tools();

// calls is an OpenAI tool_calls array of `count` calls to "search", arguments as JSON strings
// holding {"query":query,"n":i} with n counting up from 0 (what the mock server answers).
void check_search_calls(const nlohmann::json& calls, std::size_t count, std::string_view query);

// A non-ASCII text: accents, CJK, emoji, quotes, backslashes, newlines, a tab.
std::string mixed_text();

// Size of the PUBLISH packet that carried m, as the bridge sent it (no properties).
std::size_t packet_size(const received& m);
std::size_t largest_packet(const std::vector<received>& messages);

// The seqs of the raw response messages are exactly 0..n-1 (n = messages).
void check_seqs(const response_stream& s);

// Structural checks every stream must pass: finished, one terminal as the last event, no
// violations or lost seqs, no second topic, gapless seqs.
void check_well_formed(const response_stream& s);

// A successful stream: start (mode), chunks joining to text exactly, done with finish_reason,
// usage, and chunks/bytes matching what arrived.
void check_done(const response_stream& s, std::string_view text, std::string_view mode = "stream",
                std::string_view finish_reason = "stop");

// A stream ending with exactly one error event with this code.
void check_error(const response_stream& s, std::string_view code);

// The newest chat completion request the mock server received (GET /mock/requests) with a
// message whose content contains marker; null when there is none.
nlohmann::json upstream_request_with(const mock_llm& llm, std::string_view marker);

// Sends an echo request as `client` and checks that it is answered correctly: proof that the
// bridge is still serving.
void check_serving(test_client& c, std::string_view client, std::string_view id);

// Takes into each stream what arrived since it was collected, and checks that each still has
// exactly one terminal and no violation (call after a barrier, e.g. check_serving).
void check_still_one_terminal(test_client& c, std::vector<response_stream>& streams);

// The peak resident memory (VmHWM) of a program under test, in kB, is below bound_kb. The check
// runs in plain builds only: sanitizers keep freed memory in quarantine and shadow every byte,
// so there the peak says nothing about the program's own bounds (it is printed all the same).
void check_peak_rss(process& p, std::size_t bound_kb);

// Runs a program found by program_path to completion (its output goes to <tag>.*.log in the
// test directory) and requires exit code 0.
void run_tool(const test_dir& dir, const std::string& tag, std::vector<std::string> argv);

// A text of n ASCII bytes ("0,1,2,...") that is not periodic in a way that would hide a lost piece.
std::string numbered_text(std::size_t n);

}  // namespace llmb::itest
