#include "options.hpp"

#include <charconv>
#include <cstdio>
#include <limits>
#include <string_view>

namespace llmb::mock {

namespace {

constexpr std::string_view help_text = R"(Usage: mock-llm-server [OPTIONS]

An OpenAI-compatible stand-in for llama-server, for tests and benchmarks: deterministic answers,
streamed exactly as llama-server streams them, with faults on request.

Options:
  --host ADDR       address to listen on (default 127.0.0.1)
  --port N          port to listen on; 0 picks a free one (default 0)
  --model NAME      model name used when a request names none (default mock-model)
  --models A,B,...  the models served: /v1/models lists them all, the first is the default, and
                    a request naming another one is answered 404 {"error":{"code":404,"message":
                    "model 'X' not found","type":"not_found_error"}} (excludes --model)
  --tokens N        answer tokens (default 16)
  --answer TEXT     answer with TEXT instead of the word list, one word per token (each with
                    the whitespace before it), for demonstrations; a request's directives that
                    choose another answer (tokens=N, echo, echo_all, fault=huge, tools) still do
  --delay-us N      delay between streamed tokens in microseconds (default 0: full speed)
  --loading-ms N    /health answers 503 "Loading model" for N ms after start (default 0)
  --api-key KEY     require "Authorization: Bearer KEY" on /v1/chat/completions (else 401)
  --ctx N           context size in tokens (default 0: unlimited). A chat request whose prompt
                    tokens plus max_tokens (or max_completion_tokens, when given) exceed N is
                    answered 400 as llama-server does, streamed or not: {"error":{"code":400,
                    "message":"request (P tokens) exceeds the available context size (N tokens),
                    try increasing it","type":"exceed_context_size_error","n_prompt_tokens":P,
                    "n_ctx":N}} with P the prompt tokens (see below)
  --fail-health     /health starts answering 503 (until POST /mock/health {"status":200})
  --slots N         answer GET /props as llama-server started with -np N does (N 1..1024);
                    without it /props is a 404, as on servers that have none (vLLM, hosted)
  --help            show this text

Once listening it prints one line "listening on ADDR:PORT" to stdout. SIGTERM or SIGINT: exit 0.

Endpoints:
  GET  /health               200 {"status":"ok"}; 503 {"error":{"code":503,"message":
                             "Loading model","type":"unavailable_error"}} while loading or
                             while switched to 503
  GET  /v1/models            {"object":"list","data":[{"id":MODEL,...},...]}
  GET  /props                with --slots: {"total_slots":N,"default_generation_settings":
                             {"n_ctx":C},"model_path":MODEL} with C = --ctx or else 4096;
                             without --slots: 404
  POST /v1/chat/completions  OpenAI chat completion; "stream":true answers with SSE
  POST /tokenize             {"content":TEXT} -> {"tokens":[ID,...]}: one id per whitespace-
                             separated word of TEXT (equal words, equal ids; below 151936)
  GET  /mock/stats           {"requests","streams_started","streams_completed",
                              "streams_aborted","active"}: chat completion requests received,
                              SSE responses begun, SSE responses the server ended (faults
                              included), chat requests whose client left before the end
                              (streamed or not), chat requests being answered
  GET  /mock/last_request    the body of the last chat completion request (404 if none)
  GET  /mock/requests        a JSON array of the bodies of the last 100 chat completion
                             requests, oldest first (a body that is not JSON is a string)
  POST /mock/health          {"status":503} or {"status":200}: what /health answers from now
                             on (503 either way until --loading-ms is over); answered with
                             {"status":N}; any other body is a 400

Every chat.completion(.chunk) object carries "mock_ts_ns": CLOCK_REALTIME nanoseconds at the
moment it was written.

Answers: token i is word[(i + hash(prompt)) % 32] of a fixed list mixing ASCII, accented Latin,
CJK, emoji and a token with a quote, a backslash and a newline. max_tokens caps the tokens,
reasoning included (finish_reason "length"; tool calls are not capped). When the request has
"tools", the answer calls the first tool with {"query":"<first 40 bytes of the last user
message>","n":<index>}.

Prompt tokens (usage.prompt_tokens, timings.prompt_n, n_prompt_tokens and --ctx): for each
message, the number of words of its content (runs of bytes other than space, \t, \n, \r, \f,
\v; the text parts of a content array joined by \n; none for a null content) plus 4; the
directive lines of the last user message are not counted. So a message's words are the length
of /tokenize's answer for its content.

Directives: a line of the last user message starting with "#mock" holds space-separated items
and is removed from the prompt:
  tokens=N          answer tokens
  delay_us=N        delay between tokens (delay_ms=N likewise; the last one given wins)
  ttfb_ms=N         wait before the response head
  echo              answer = the last user message (trimmed) in pieces of piece=N bytes
  echo_all          answer = every message in order as ROLE:CONTENT joined by "|", e.g.
                    "system:be brief|user:hi|assistant:hello|user:again", each content
                    trimmed and without its "#mock" lines; in pieces like echo
  piece=N           echo piece size (default 4), never cutting a UTF-8 character
  reasoning=N       N reasoning_content deltas before the content
  finish=stop|length
  tool_calls=N      number of tool calls when the request has tools (default 1)
  stamp             each streamed text delta starts with "@<ns>;": the CLOCK_REALTIME
                    nanoseconds when it was written (for latency measurements)
  fault=F           with fault_after=N tokens (default 2) for faults that strike mid-stream:
    http_500 http_400 http_429 http_503 ctx_exceeded
                    an HTTP error with an OpenAI-style JSON body instead of the answer
                    (ctx_exceeded: the body --ctx gives, with n_ctx = --ctx or else 512)
    error_event     data: {"error":{...}} then the end of the body
    old_error       error: {...} then data: [DONE]
    reset           the connection is reset (RST)
    no_done         the body ends without finish_reason or [DONE]
    stall           nothing more is sent until the client closes
    malformed       data: {not json   (the stream then goes on)
    invalid_utf8    a content delta holding the raw bytes FF FE (the stream then goes on)
    huge            tokens of 64 KiB of 'x' each
    close_before_headers
                    after ttfb_ms the connection is closed (FIN) without a byte of answer
  An unknown key or a bad value is answered with 400.
  ttfb_ms delays non-streamed answers too (the tokens' delays are then added to it).
  Without "stream": reset and stall strike before any byte, error_event and old_error are a
  500, malformed is a 200 with the body "{not json", no_done cuts the body in half and closes,
  invalid_utf8 puts FF FE into the content.
)";

bool parse_uint(std::string_view s, std::uint64_t max, std::uint64_t& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc{} && end == s.data() + s.size() && out <= max;
}

// The names of a comma-separated list; empty when one of them is empty.
std::vector<std::string> split_names(std::string_view list) {
    std::vector<std::string> names;
    while (true) {
        const std::size_t comma = list.find(',');
        const std::string_view name = list.substr(0, comma);
        if (name.empty()) {
            return {};
        }
        names.emplace_back(name);
        if (comma == std::string_view::npos) {
            return names;
        }
        list.remove_prefix(comma + 1);
    }
}

parsed_options fail(const std::string& message) {
    std::fprintf(stderr, "mock-llm-server: %s (see --help)\n", message.c_str());
    return parsed_options{std::nullopt, 2};
}

}  // namespace

parsed_options parse_options(int argc, char** argv) {
    server_options o;
    bool model_given = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fwrite(help_text.data(), 1, help_text.size(), stdout);
            return parsed_options{std::nullopt, 0};
        }
        if (arg == "--fail-health") {
            o.fail_health = true;
            continue;
        }
        std::string_view value;
        const std::size_t eq = arg.find('=');
        if (eq != std::string_view::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return fail("missing value for " + std::string(arg));
        }
        std::uint64_t n = 0;
        constexpr std::uint64_t max_ms = 24ULL * 3600 * 1000;
        const auto number = [&](std::uint64_t max) {
            if (!parse_uint(value, max, n)) {
                fail("bad value for " + std::string(arg) + ": '" + std::string(value) + "'");
                return false;
            }
            return true;
        };
        if (arg == "--host") {
            o.host = value;
        } else if (arg == "--port") {
            if (!number(65535)) {
                return parsed_options{std::nullopt, 2};
            }
            o.port = static_cast<std::uint16_t>(n);
        } else if (arg == "--model") {
            o.model = value;
            model_given = true;
        } else if (arg == "--models") {
            o.models = split_names(value);
            if (o.models.empty()) {
                return fail("bad value for --models: '" + std::string(value) +
                            "' (comma-separated non-empty names)");
            }
        } else if (arg == "--ctx") {
            if (!number(std::numeric_limits<std::uint32_t>::max())) {
                return parsed_options{std::nullopt, 2};
            }
            o.ctx = static_cast<std::size_t>(n);
        } else if (arg == "--slots") {
            if (!number(1024)) {
                return parsed_options{std::nullopt, 2};
            }
            if (n == 0) {
                return fail("bad value for --slots: '0' (1..1024)");
            }
            o.slots = static_cast<std::uint32_t>(n);
        } else if (arg == "--tokens") {
            if (!number(std::numeric_limits<std::uint32_t>::max())) {
                return parsed_options{std::nullopt, 2};
            }
            o.tokens = static_cast<std::size_t>(n);
        } else if (arg == "--delay-us") {
            if (!number(max_ms * 1000)) {
                return parsed_options{std::nullopt, 2};
            }
            o.delay_ns = static_cast<std::int64_t>(n) * 1000;
        } else if (arg == "--loading-ms") {
            if (!number(max_ms)) {
                return parsed_options{std::nullopt, 2};
            }
            o.loading_ns = static_cast<std::int64_t>(n) * 1'000'000;
        } else if (arg == "--api-key") {
            o.api_key = value;
        } else if (arg == "--answer") {
            if (value.empty()) {
                return fail("bad value for --answer: the text is empty");
            }
            o.answer = value;
        } else {
            return fail("unknown option " + std::string(arg));
        }
    }
    if (!o.models.empty()) {
        if (model_given) {
            return fail("--model and --models exclude each other");
        }
        o.model = o.models.front();
    }
    return parsed_options{std::move(o), 0};
}

}  // namespace llmb::mock
