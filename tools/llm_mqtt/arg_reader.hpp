// Command line words of the llm-mqtt commands: "--name=value" or "--name value", and number
// parsing that accepts the whole word or nothing.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace llmb::cli {

inline std::optional<std::uint32_t> parse_u32(std::string_view s) {
    std::uint32_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) {
        return std::nullopt;
    }
    return v;
}

inline std::optional<double> parse_double(std::string_view s) {
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty() || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

// Walks the words, splitting "--name=value" and handing out option values.
class arg_reader {
public:
    explicit arg_reader(std::span<const std::string_view> args) : args_(args) {}

    bool done() const noexcept { return pos_ >= args_.size(); }

    // The next word; for "--name=value" the name, with the value kept for value().
    std::string_view next() {
        std::string_view word = args_[pos_++];
        inline_value_.reset();
        if (word.starts_with("--")) {
            if (const auto eq = word.find('='); eq != std::string_view::npos) {
                inline_value_ = word.substr(eq + 1);
                word = word.substr(0, eq);
            }
        }
        return word;
    }

    // The value of the option just read, or nullopt when none follows.
    std::optional<std::string_view> value() {
        if (inline_value_) {
            auto v = inline_value_;
            inline_value_.reset();
            return v;
        }
        if (done()) {
            return std::nullopt;
        }
        return args_[pos_++];
    }

    bool has_inline_value() const noexcept { return inline_value_.has_value(); }

private:
    std::span<const std::string_view> args_;
    std::size_t pos_ = 0;
    std::optional<std::string_view> inline_value_;
};

}  // namespace llmb::cli
