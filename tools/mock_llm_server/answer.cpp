#include "answer.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "http_response.hpp"
#include "protocol/json_text.hpp"

namespace llmb::mock {

namespace {

// ASCII words with leading spaces, accented Latin, CJK, emoji, and tokens that need escaping.
constexpr std::array<std::string_view, 32> word_table{{
    " the",      " quick",
    " brown",    " fox",
    " jumps",    " over",
    " a",        " lazy",
    " dog",      "Hello",
    ",",         ".",
    " world",    " café",
    " naïve",    " Ærø",
    " über",     " señor",
    "日本語",    "中文",
    "测试",      " 한국어",
    " 🙂",     "🚀",
    " 👍🏽", " say \"hi\\there\"\n",
    "\t",        "!",
    " end",      " data",
    "\\n",       "Ω",
}};

constexpr std::size_t huge_piece_bytes = 64 * 1024;
constexpr std::size_t tool_fragment_bytes = 4;

std::string_view huge_piece() {
    static const std::string x(huge_piece_bytes, 'x');
    return x;
}

std::string_view word(std::uint64_t seed, std::size_t i) noexcept {
    return word_table[static_cast<std::size_t>((seed + i) % word_table.size())];
}

// Length of the character starting at s (1 for a byte that does not start a valid one).
std::size_t char_length(std::string_view s) noexcept {
    const std::size_t n = protocol::utf8_sequence_length(s);
    return n == 0 ? 1 : n;
}

// Offsets and lengths of the pieces of text: at most max_bytes each, whole characters.
template <typename F>
void split_utf8(std::string_view text, std::size_t max_bytes, F&& emit) {
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = start + char_length(text.substr(start));
        while (end < text.size()) {
            const std::size_t n = char_length(text.substr(end));
            if (end + n - start > max_bytes) {
                break;
            }
            end += n;
        }
        emit(start, end - start);
        start = end;
    }
}

}  // namespace

answer answer::words(std::uint64_t seed, std::size_t reasoning, std::size_t n) {
    return answer(source::words, seed, reasoning, n);
}

answer answer::echo(std::uint64_t seed, std::size_t reasoning, std::string text,
                    std::size_t piece_bytes) {
    std::vector<slice> slices;
    split_utf8(text, piece_bytes, [&](std::size_t off, std::size_t len) {
        slices.push_back(slice{off, len, 0});
    });
    answer a(source::echo, seed, reasoning, slices.size());
    a.echo_ = std::move(text);
    a.slices_ = std::move(slices);
    return a;
}

answer answer::prose(std::uint64_t seed, std::size_t reasoning, std::string text) {
    std::vector<slice> slices;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = start;
        while (end < text.size() && is_word_space(text[end])) {
            ++end;
        }
        while (end < text.size() && !is_word_space(text[end])) {
            ++end;
        }
        slices.push_back(slice{start, end - start, 0});
        start = end;
    }
    answer a(source::echo, seed, reasoning, slices.size());
    a.echo_ = std::move(text);
    a.slices_ = std::move(slices);
    return a;
}

answer answer::huge(std::uint64_t seed, std::size_t reasoning, std::size_t n) {
    return answer(source::huge, seed, reasoning, n);
}

answer answer::tools(std::uint64_t seed, std::size_t reasoning, std::string_view name,
                     std::string_view query, std::size_t calls) {
    std::vector<tool_call> list;
    std::vector<slice> slices;
    for (std::size_t c = 0; c < calls; ++c) {
        tool_call call;
        call.id = "call_" + std::to_string(c);
        call.name = name;
        call.arguments = R"({"query":)";
        protocol::append_json_string(call.arguments, query);
        call.arguments += R"(,"n":)";
        append_uint(call.arguments, c);
        call.arguments += '}';
        slices.push_back(slice{0, 1, c});  // the opening fragment: "{"
        const std::string_view rest = std::string_view(call.arguments).substr(1);
        split_utf8(rest, tool_fragment_bytes, [&](std::size_t off, std::size_t len) {
            slices.push_back(slice{off + 1, len, c});
        });
        list.push_back(std::move(call));
    }
    answer a(source::tools, seed, reasoning, slices.size());
    a.calls_ = std::move(list);
    a.slices_ = std::move(slices);
    return a;
}

bool answer::truncate(std::size_t n) {
    if (n >= size_) {
        return false;
    }
    size_ = n;
    reasoning_ = std::min(reasoning_, n);
    return true;
}

piece answer::at(std::size_t i) const noexcept {
    if (i < reasoning_) {
        return piece{piece_kind::reasoning, word(seed_, i), 0};
    }
    const std::size_t j = i - reasoning_;
    switch (source_) {
        case source::words:
            return piece{piece_kind::content, word(seed_, j), 0};
        case source::huge:
            return piece{piece_kind::content, huge_piece(), 0};
        case source::echo:
            return piece{piece_kind::content,
                         std::string_view(echo_).substr(slices_[j].offset, slices_[j].length), 0};
        case source::tools: {
            const slice& s = slices_[j];
            const bool open = s.offset == 0;
            return piece{open ? piece_kind::tool_open : piece_kind::tool_args,
                         std::string_view(calls_[s.call].arguments).substr(s.offset, s.length),
                         s.call};
        }
    }
    return piece{};
}

std::string answer::join(std::size_t from, std::size_t to) const {
    std::string text;
    for (std::size_t i = from; i < to; ++i) {
        text += at(i).text;
    }
    return text;
}

std::string answer::content() const {
    return source_ == source::tools ? std::string() : join(reasoning_, size_);
}

std::string answer::reasoning() const {
    return join(0, reasoning_);
}

std::uint64_t prompt_hash(std::string_view text) noexcept {
    std::uint64_t h = 14695981039346656037ULL;
    for (const char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return h;
}

std::size_t count_words(std::string_view text) noexcept {
    std::size_t n = 0;
    bool in_word = false;
    for (const char c : text) {
        const bool space = is_word_space(c);
        if (!space && !in_word) {
            ++n;
        }
        in_word = !space;
    }
    return n;
}

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) noexcept {
    std::size_t end = 0;
    while (end < text.size()) {
        const std::size_t n = char_length(text.substr(end));
        if (end + n > max_bytes) {
            break;
        }
        end += n;
    }
    return text.substr(0, end);
}

std::span<const std::string_view> word_list() noexcept {
    return word_table;
}

}  // namespace llmb::mock
