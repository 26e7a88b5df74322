// The deterministic answer to one chat request: a sequence of pieces, each one streamed delta
// (a token). Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llmb::mock {

enum class piece_kind { reasoning, content, tool_open, tool_args };

struct piece {
    piece_kind kind = piece_kind::content;
    std::string_view text;       // the delta's text (arguments fragment for tool pieces)
    std::size_t tool_index = 0;  // tool_open and tool_args only
};

struct tool_call {
    std::string id;
    std::string name;
    std::string arguments;
};

class answer {
public:
    // n tokens from the word list, token i being words[(i + seed) % size].
    static answer words(std::uint64_t seed, std::size_t reasoning, std::size_t n);
    // text split into pieces of at most piece_bytes bytes, never inside a UTF-8 character (a
    // character longer than piece_bytes is one piece).
    static answer echo(std::uint64_t seed, std::size_t reasoning, std::string text,
                       std::size_t piece_bytes);
    // text split before each word: every piece is a word with the whitespace before it (the
    // whitespace at the end of text is the last piece), like the tokens of a real model.
    static answer prose(std::uint64_t seed, std::size_t reasoning, std::string text);
    // n tokens of 64 KiB of 'x' each.
    static answer huge(std::uint64_t seed, std::size_t reasoning, std::size_t n);
    // calls tool calls to `name` with arguments {"query":<query>,"n":<index>}, streamed as an
    // opening fragment with arguments "{" and then fragments of about 4 bytes.
    static answer tools(std::uint64_t seed, std::size_t reasoning, std::string_view name,
                        std::string_view query, std::size_t calls);

    // Keeps at most n pieces (reasoning first). Returns true when pieces were dropped.
    bool truncate(std::size_t n);

    std::size_t size() const noexcept { return size_; }
    piece at(std::size_t i) const noexcept;

    // For a whole (non-streamed) response.
    std::string content() const;
    std::string reasoning() const;
    std::span<const tool_call> tool_calls() const noexcept { return calls_; }

private:
    enum class source { words, echo, huge, tools };
    struct slice {
        std::size_t offset;
        std::size_t length;
        std::size_t call;  // tools only
    };

    answer(source src, std::uint64_t seed, std::size_t reasoning, std::size_t content)
        : source_(src), seed_(seed), reasoning_(reasoning), size_(reasoning + content) {}

    std::string join(std::size_t from, std::size_t to) const;

    source source_;
    std::uint64_t seed_;
    std::size_t reasoning_;
    std::size_t size_;
    std::string echo_;              // echo: the text the slices point into
    std::vector<slice> slices_;     // echo: pieces of echo_; tools: fragments of arguments
    std::vector<tool_call> calls_;  // tools
};

// FNV-1a hash of text: the seed of the word choice.
std::uint64_t prompt_hash(std::string_view text) noexcept;

// The bytes that separate words: space, \t, \n, \r, \f, \v.
constexpr bool is_word_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Number of whitespace-separated words in text.
std::size_t count_words(std::string_view text) noexcept;

// The longest prefix of text with at most max_bytes bytes that ends on a character boundary.
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) noexcept;

// The fixed word list (exposed for tests and documentation).
std::span<const std::string_view> word_list() noexcept;

}  // namespace llmb::mock
