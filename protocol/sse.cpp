#include "protocol/sse.hpp"

#include <cstring>
#include <utility>

namespace llmb::protocol {

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// Position of the first c in s at or after pos (s.size() when there is none). The answer is kept
// in cache and reused while it still lies ahead of pos, so each kind of line end is scanned for
// at most once per byte of a read. cache == npos means "not searched yet".
std::size_t find_cached(std::string_view s, char c, std::size_t pos, std::size_t& cache) {
    if (cache == std::string_view::npos || cache < pos) {
        const void* hit = std::memchr(s.data() + pos, c, s.size() - pos);
        cache = hit == nullptr ? s.size()
                               : static_cast<std::size_t>(static_cast<const char*>(hit) - s.data());
    }
    return cache;
}

}  // namespace

sse_parser::sse_parser(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

bool sse_parser::has_partial() const noexcept {
    return !line_.empty() || has_data_ || has_error_ || !current_.event.empty();
}

bool sse_parser::feed(std::string_view bytes, std::vector<sse_event>& out) {
    if (failed_) {
        return false;
    }
    if (at_start_) {
        // Hold the first bytes in line_ until they are known to be, or not to be, a BOM.
        std::size_t taken = 0;
        while (taken < bytes.size() && line_.size() < utf8_bom.size() &&
               bytes[taken] == utf8_bom[line_.size()]) {
            line_.push_back(bytes[taken]);
            ++taken;
        }
        if (line_.size() == utf8_bom.size()) {
            line_.clear();
            at_start_ = false;
        } else if (taken == bytes.size()) {
            return true;  // still a BOM prefix: wait for more
        } else {
            at_start_ = false;  // not a BOM: the held bytes are ordinary input
        }
        bytes.remove_prefix(taken);
        if (!line_.empty()) {
            std::string held;
            held.swap(line_);
            if (!feed(held, out)) {
                return false;
            }
        }
    }
    if (bytes.empty()) {
        return true;
    }

    // Past the bound nothing more is read: drop what is held.
    const auto fail = [this] {
        failed_ = true;
        line_ = std::string{};
        current_ = sse_event{};
        has_data_ = false;
        has_error_ = false;
        return false;
    };
    std::size_t pos = 0;
    if (pending_cr_) {
        pending_cr_ = false;
        if (bytes[0] == '\n') {
            pos = 1;
        }
    }
    std::size_t next_lf = std::string_view::npos;
    std::size_t next_cr = std::string_view::npos;
    while (pos < bytes.size()) {
        const std::size_t lf = find_cached(bytes, '\n', pos, next_lf);
        const std::size_t cr = find_cached(bytes, '\r', pos, next_cr);
        const std::size_t end = cr < lf ? cr : lf;
        if (end == bytes.size()) {
            // No line end in the rest: keep the tail for the next read.
            const std::string_view tail = bytes.substr(pos);
            if (line_.size() + tail.size() > max_event_bytes_) {
                return fail();
            }
            line_.append(tail);
            break;
        }
        const std::string_view piece = bytes.substr(pos, end - pos);
        if (line_.empty()) {
            if (piece.size() > max_event_bytes_) {
                return fail();
            }
            process_line(piece, out);
        } else {
            if (line_.size() + piece.size() > max_event_bytes_) {
                return fail();
            }
            line_.append(piece);
            process_line(line_, out);
            line_.clear();
        }
        if (failed_) {
            return fail();
        }
        pos = end + 1;
        if (bytes[end] == '\r') {
            if (pos == bytes.size()) {
                pending_cr_ = true;
            } else if (bytes[pos] == '\n') {
                ++pos;
            }
        }
    }
    return true;
}

void sse_parser::process_line(std::string_view line, std::vector<sse_event>& out) {
    if (line.empty()) {
        if (has_data_ || has_error_) {
            out.push_back(std::move(current_));
        }
        current_ = sse_event{};
        has_data_ = false;
        has_error_ = false;
        return;
    }
    if (line.front() == ':') {
        return;  // comment (keep-alive)
    }
    const std::size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
    }
    if (field == "data") {
        if (has_data_) {
            current_.data.push_back('\n');
        }
        current_.data.append(value);
        has_data_ = true;
    } else if (field == "error") {
        if (has_error_) {
            current_.error.push_back('\n');
        }
        current_.error.append(value);
        has_error_ = true;
    } else if (field == "event") {
        current_.event.assign(value);
    } else {
        return;  // id, retry and unknown fields carry nothing we use
    }
    if (current_.data.size() + current_.error.size() + current_.event.size() > max_event_bytes_) {
        failed_ = true;
    }
}

}  // namespace llmb::protocol
