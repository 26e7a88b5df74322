#include "protocol/response_assembler.hpp"

#include <algorithm>
#include <utility>

namespace llmb::protocol {

namespace {

using json = nlohmann::json;

std::optional<std::uint64_t> get_uint(const json& ev, const char* key) {
    auto it = ev.find(key);
    if (it == ev.end() || !it->is_number_unsigned()) {
        return std::nullopt;
    }
    return it->get<std::uint64_t>();
}

const std::string* get_string(const json& ev, const char* key) {
    auto it = ev.find(key);
    if (it == ev.end() || !it->is_string()) {
        return nullptr;
    }
    return it->get_ptr<const std::string*>();
}

std::string at_seq(std::uint64_t seq) {
    return "seq " + std::to_string(seq) + ": ";
}

bool is_terminal(const std::string& type) {
    return type == "done" || type == "error" || type == "session";
}

}  // namespace

void response_assembler::feed(std::string_view payload, std::vector<json>& out) {
    json ev = json::parse(payload.begin(), payload.end(), nullptr, false);
    if (ev.is_discarded() || !ev.is_object()) {
        violation("unreadable message (not a JSON object): " + std::string(payload.substr(0, 80)));
        return;
    }
    auto seq = get_uint(ev, "seq");
    if (!seq) {
        violation("message without a valid seq: " + std::string(payload.substr(0, 80)));
        return;
    }
    if (const std::string* id = get_string(ev, "id")) {
        if (id_.empty()) {
            id_ = *id;
        } else if (*id != id_) {
            violation(at_seq(*seq) + "id \"" + *id + "\" on the stream of \"" + id_ + "\"");
            return;
        }
    } else {
        violation(at_seq(*seq) + "event without an id");
    }

    auto pos = std::lower_bound(pending_.begin(), pending_.end(), *seq,
                                [](const auto& p, std::uint64_t s) { return p.first < s; });
    if (*seq < next_seq_ || (pos != pending_.end() && pos->first == *seq)) {
        ++duplicates_;
        return;
    }
    if (finished_) {
        violation(at_seq(*seq) + "event after the terminal event");
        return;
    }
    if (!any_ || *seq > highest_seq_) {
        highest_seq_ = *seq;
    }
    any_ = true;
    if (*seq != next_seq_) {
        pending_.insert(pos, {*seq, std::move(ev)});
        return;
    }

    deliver(std::move(ev), out);
    ++next_seq_;
    while (!pending_.empty() && pending_.front().first == next_seq_) {
        json early = std::move(pending_.front().second);
        pending_.erase(pending_.begin());
        if (finished_) {
            violation(at_seq(next_seq_) + "event after the terminal event");
        } else {
            deliver(std::move(early), out);
        }
        ++next_seq_;
    }
    if (finished_) {
        for (const auto& [early_seq, early] : pending_) {
            violation(at_seq(early_seq) + "event after the terminal event");
        }
        pending_.clear();
    }
}

std::uint64_t response_assembler::missing() const noexcept {
    if (finished_ || !any_ || highest_seq_ < next_seq_) {
        return 0;
    }
    return highest_seq_ - next_seq_ + 1 - pending_.size();
}

void response_assembler::deliver(json ev, std::vector<json>& out) {
    const std::uint64_t seq = ev["seq"].get<std::uint64_t>();
    const std::string* type = get_string(ev, "type");
    if (type == nullptr) {
        violation(at_seq(seq) + "event without a type");
        return;
    }
    if (*type == "frag") {
        deliver_frag(ev, out);
        return;
    }
    if (frag_parts_ != 0) {
        violation(at_seq(seq) + "\"" + *type + "\" event in the middle of the frags of \"" +
                  frag_of_ + "\" that began at seq " + std::to_string(frag_first_seq_));
        reset_frag();
    }
    handle_event(std::move(ev), out);
}

void response_assembler::deliver_frag(const json& ev, std::vector<json>& out) {
    const std::uint64_t seq = ev["seq"].get<std::uint64_t>();
    const std::string* of = get_string(ev, "of");
    const auto part = get_uint(ev, "part");
    const auto parts = get_uint(ev, "parts");
    const std::string* data = get_string(ev, "data");
    if (of == nullptr || !part || !parts || data == nullptr || *parts == 0 || *part >= *parts) {
        violation(at_seq(seq) + "malformed frag (needs of, part < parts, data)");
        reset_frag();
        return;
    }
    if (*part == 0) {
        if (frag_parts_ != 0) {
            violation(at_seq(seq) + "new frags begin before the frags of \"" + frag_of_ +
                      "\" from seq " + std::to_string(frag_first_seq_) + " were complete");
        }
        frag_of_ = *of;
        frag_parts_ = *parts;
        frag_next_part_ = 0;
        frag_first_seq_ = seq;
        frag_data_.clear();
    } else if (frag_parts_ == 0 || *part != frag_next_part_ || *parts != frag_parts_ ||
               *of != frag_of_) {
        violation(at_seq(seq) + "frag part " + std::to_string(*part) + "/" +
                  std::to_string(*parts) + " of \"" + *of +
                  "\" does not continue the frags in progress");
        reset_frag();
        return;
    }
    frag_data_ += *data;
    ++frag_next_part_;
    if (frag_next_part_ < frag_parts_) {
        return;
    }

    const std::string inner_of = frag_of_;
    const std::uint64_t first_seq = frag_first_seq_;
    json inner = json::parse(frag_data_, nullptr, false);
    reset_frag();
    const std::string where = "frags from seq " + std::to_string(first_seq) + ": ";
    if (inner.is_discarded() || !inner.is_object()) {
        violation(where + "the joined data is not a JSON object");
        return;
    }
    const std::string* inner_type = get_string(inner, "type");
    if (inner_type == nullptr || *inner_type != inner_of || *inner_type == "frag") {
        violation(where + "the joined event is not of type \"" + inner_of + "\"");
        return;
    }
    const auto inner_seq = get_uint(inner, "seq");
    if (!inner_seq || *inner_seq != first_seq) {
        violation(where + "the joined event does not carry the seq of its first frag");
        inner["seq"] = first_seq;
    }
    const std::string* inner_id = get_string(inner, "id");
    if (inner_id == nullptr || *inner_id != id_) {
        violation(where + "the joined event does not carry the stream's id");
    }
    handle_event(std::move(inner), out);
}

void response_assembler::handle_event(json ev, std::vector<json>& out) {
    const std::uint64_t seq = ev["seq"].get<std::uint64_t>();
    const std::string type = ev["type"].get<std::string>();
    if (type == "chunk") {
        const std::string* text = get_string(ev, "text");
        const std::string* reasoning = get_string(ev, "reasoning");
        if (text == nullptr && reasoning == nullptr) {
            violation(at_seq(seq) + "chunk without text or reasoning");
        } else {
            if (text != nullptr) {
                text_ += *text;
            }
            if (reasoning != nullptr) {
                reasoning_ += *reasoning;
            }
            ++chunks_;
        }
    } else if (type == "start" && seq != 0) {
        violation(at_seq(seq) + "start event that is not the first");
    } else if (type == "done") {
        check_done(ev);
    }
    if (is_terminal(type)) {
        finished_ = true;
    }
    out.push_back(std::move(ev));
}

void response_assembler::check_done(const json& ev) {
    const std::string where = at_seq(ev["seq"].get<std::uint64_t>()) + "done ";
    const auto chunks = get_uint(ev, "chunks");
    const auto bytes = get_uint(ev, "bytes");
    if (!chunks) {
        violation(where + "without a valid chunks count");
    } else if (*chunks != chunks_) {
        violation(where + "says " + std::to_string(*chunks) + " chunks but " +
                  std::to_string(chunks_) + " arrived");
    }
    if (!bytes) {
        violation(where + "without a valid bytes count");
    } else if (*bytes != text_.size()) {
        violation(where + "says " + std::to_string(*bytes) + " bytes but " +
                  std::to_string(text_.size()) + " bytes of text arrived");
    }
}

void response_assembler::reset_frag() noexcept {
    frag_of_.clear();
    frag_data_.clear();
    frag_parts_ = 0;
    frag_next_part_ = 0;
    frag_first_seq_ = 0;
}

void response_assembler::violation(std::string what) {
    violations_.push_back(std::move(what));
}

}  // namespace llmb::protocol
