// Helpers shared by the fuzz targets: reading parameters off the front of an input, and checking
// an invariant so that a violation stops the run (a crash libFuzzer records with its input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace llmb::fuzz {

// Stops the run when an invariant does not hold; what says which one.
inline void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
        std::abort();
    }
}

// Reads small parameters from the front of the input; what is left is the payload. Reading past
// the end yields zeros, so every input is usable.
class input_reader {
public:
    input_reader(const std::uint8_t* data, std::size_t size) noexcept
        : rest_(reinterpret_cast<const char*>(data), size) {}

    std::uint8_t byte() noexcept {
        if (rest_.empty()) {
            return 0;
        }
        const auto b = static_cast<std::uint8_t>(rest_.front());
        rest_.remove_prefix(1);
        return b;
    }

    // Two bytes, little-endian.
    std::uint16_t u16() noexcept {
        const auto lo = byte();
        const auto hi = byte();
        return static_cast<std::uint16_t>(lo | (hi << 8));
    }

    std::string_view take(std::size_t n) noexcept {
        const auto piece = rest_.substr(0, n);
        rest_.remove_prefix(piece.size());
        return piece;
    }

    std::string_view rest() const noexcept { return rest_; }

private:
    std::string_view rest_;
};

}  // namespace llmb::fuzz
