// Fuzz target: the C device library (protocol/device). The input is read as
//   byte 0: work buffer size / 4; byte 1: the request id's length - 1 (mod 8), id "rrrrrrrr"
//   then messages, each a two-byte little-endian length (mod 2048) and that many bytes,
// fed in order to one decoder, each twice. Every callback is checked: text pieces are never
// empty, strings are NUL-terminated, nothing is delivered after the terminal or for a message
// seen before, done.bytes_match agrees with the text delivered, the contiguous count only grows.
// The whole input is also built into a request as its prompt (up to a NUL): when it is UTF-8,
// the payload must parse back to it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "protocol/device/llmb_device.h"
#include "protocol/json_text.hpp"

namespace {

using llmb::fuzz::require;

struct seen {
    std::uint64_t text_bytes = 0;
    std::size_t calls = 0;
    bool terminal = false;
};

seen& on_call(void* user) {
    auto& s = *static_cast<seen*>(user);
    require(!s.terminal, "a callback after the terminal event");
    ++s.calls;
    return s;
}

void piece(void* user, const char* p, std::size_t n) {
    on_call(user);
    require(p != nullptr && n > 0, "an empty piece of text");
}

const llmb_callbacks checking_callbacks = {
    [](void* u, const char* model, int) {
        on_call(u);
        (void)std::strlen(model);
    },
    [](void* u, const char* p, std::size_t n) {
        piece(u, p, n);
        static_cast<seen*>(u)->text_bytes += n;
    },
    piece,
    [](void* u, llmb_status status, std::uint32_t) {
        on_call(u);
        require(status >= LLMB_STATUS_QUEUED && status <= LLMB_STATUS_OTHER, "status out of range");
    },
    [](void* u, const char* p, std::size_t n) {
        on_call(u);
        require(n >= 2 && p[0] == '[' && p[n - 1] == ']', "tool_calls not an array");
    },
    [](void* u, const llmb_done* d) {
        auto& s = on_call(u);
        (void)std::strlen(d->finish_reason);
        require(!d->bytes_match || d->bytes == s.text_bytes, "bytes_match with other bytes");
        s.terminal = true;
    },
    [](void* u, const llmb_error* e) {
        auto& s = on_call(u);
        (void)std::strlen(e->code);
        (void)std::strlen(e->message);
        s.terminal = true;
    },
    [](void* u, std::uint32_t first_missing, std::uint32_t received) {
        on_call(u);
        require(first_missing < received, "a gap that is not one");
    },
};

void check_request(std::string_view input) {
    const std::string prompt(input.substr(0, input.find('\0')));
    std::vector<char> out(prompt.size() * 6 + 64);
    llmb_request req{};
    req.id = "r1";
    req.prompt = prompt.c_str();
    const int n = llmb_build_request(&req, out.data(), out.size());
    if (prompt.empty()) {
        require(n == LLMB_ERR_INVALID, "an empty prompt accepted");
        return;
    }
    require(n > 0, "a request that fits refused");
    const std::string payload(out.data(), static_cast<std::size_t>(n));
    if (llmb::protocol::valid_utf8(prompt)) {
        const auto j = nlohmann::json::parse(payload);
        require(j.at("prompt").get<std::string>() == prompt, "the prompt does not parse back");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    llmb::fuzz::input_reader in(data, size);
    std::vector<char> buf(static_cast<std::size_t>(in.byte()) * 4);
    const std::string id(1 + in.byte() % 8, 'r');
    seen s;
    llmb_stream st{};
    require(llmb_stream_init(&st, id.c_str(), nullptr, buf.data(), buf.size(), &checking_callbacks,
                             &s) == 0,
            "init refused a valid id");
    std::uint32_t contiguous = 0;
    while (!in.rest().empty()) {
        const std::string_view message = in.take(in.u16() % 2048U);
        if (message.empty()) {
            // An empty message stands for a reconnect without a session: resume.
            require(llmb_stream_resume(&st) >= llmb_stream_contiguous(&st), "resume went back");
            continue;
        }
        const std::size_t calls = s.calls;
        const auto first = llmb_stream_feed(&st, nullptr, message.data(), message.size());
        require(first >= LLMB_FEED_OVERFLOW && first <= LLMB_FEED_EARLY, "unknown result");
        if (first == LLMB_FEED_EARLY) {
            require(s.calls == calls, "callbacks for an event ahead of a resume");
        }
        if (first == LLMB_FEED_MALFORMED) {
            require(s.calls == calls || s.calls == calls + 1, "callbacks for a malformed message");
        }
        const std::size_t after_first = s.calls;
        const auto second = llmb_stream_feed(&st, nullptr, message.data(), message.size());
        if (first == LLMB_FEED_OK) {
            // after the end: an error "gone" taken at a resume whatever its seq
            require(second == LLMB_FEED_DUPLICATE || second == LLMB_FEED_AFTER_END,
                    "a message handled twice");
        }
        if (second != LLMB_FEED_OK) {
            require(s.calls == after_first, "callbacks for a message not handled");
        }
        require(llmb_stream_contiguous(&st) >= contiguous, "the contiguous count went back");
        contiguous = llmb_stream_contiguous(&st);
        require(!s.terminal || llmb_stream_finished(&st) == 1, "a terminal not finishing");
    }
    check_request(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
