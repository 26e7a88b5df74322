#include "watch_view.hpp"

#include <vector>

#include "event_printer.hpp"

namespace llmb::cli {

namespace {

using nlohmann::json;

// Finished requests remembered, so that a redelivered message does not open a new stream.
constexpr std::size_t finished_memory = 4096;

std::string dump(const json& v) {
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string field(const json& ev, const char* key) {
    const auto it = ev.find(key);
    if (it == ev.end()) {
        return {};
    }
    return it->is_string() ? it->get<std::string>() : dump(*it);
}

bool is_terminal(const std::string& type) {
    return type == "done" || type == "error" || type == "session";
}

std::string describe(const json& ev) {
    const std::string type = field(ev, "type");
    if (type == "start") {
        std::string s = "start: ";
        if (const auto model = field(ev, "model"); !model.empty()) {
            s += "model " + model + " · ";
        }
        s += field(ev, "mode");
        if (ev.contains("session")) {
            s += " · session " + field(ev, "session");
        }
        return s;
    }
    if (type == "status") {
        std::string s = "status: " + field(ev, "status");
        for (const char* key : {"position", "dropped"}) {
            if (ev.contains(key)) {
                s += std::string(", ") + key + " " + field(ev, key);
            }
        }
        return s;
    }
    if (type == "tool_calls") {
        return "tool_calls: " + dump(ev.value("tool_calls", json::array()));
    }
    if (type == "done") {
        return "done " + format_summary(ev);
    }
    if (type == "error") {
        return format_error(ev);
    }
    if (type == "session") {
        return "session: " + std::string(ev.value("ok", false) ? "ok" : "not ok");
    }
    return type + ": " + dump(ev);
}

}  // namespace

watch_view::watch_view(std::FILE* out, std::FILE* err) : out_(out), err_(err) {}

void watch_view::write(std::FILE* f, std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), f);
    std::fflush(f);
}

void watch_view::end_text_line() {
    if (!open_label_.empty() && !at_line_start_) {
        write(out_, "\n");
    }
    open_label_.clear();
    at_line_start_ = true;
}

void watch_view::close() {
    end_text_line();
}

void watch_view::line(const std::string& label, const std::string& s) {
    end_text_line();
    write(out_, "[" + label + "] " + s + "\n");
}

void watch_view::text(const std::string& label, std::string_view s, bool reasoning) {
    if (open_label_ != label || open_reasoning_ != reasoning) {
        end_text_line();
        open_label_ = label;
        open_reasoning_ = reasoning;
    }
    const std::string prefix = "[" + label + "] " + (reasoning ? "(reasoning) " : "");
    while (!s.empty()) {
        if (at_line_start_) {
            write(out_, prefix);
            at_line_start_ = false;
        }
        const auto nl = s.find('\n');
        const auto piece = s.substr(0, nl == std::string_view::npos ? s.size() : nl + 1);
        write(out_, piece);
        at_line_start_ = nl != std::string_view::npos;
        s.remove_prefix(piece.size());
    }
}

void watch_view::print(const std::string& label, const json& ev) {
    if (field(ev, "type") != "chunk") {
        line(label, describe(ev));
        return;
    }
    if (const auto it = ev.find("reasoning"); it != ev.end() && it->is_string()) {
        text(label, it->get_ref<const std::string&>(), true);
    }
    if (const auto it = ev.find("text"); it != ev.end() && it->is_string()) {
        text(label, it->get_ref<const std::string&>(), false);
    }
}

void watch_view::forget(const std::string& label) {
    streams_.erase(label);
    if (finished_.insert(label).second) {
        finished_order_.push_back(label);
    }
    if (finished_order_.size() > finished_memory) {
        finished_.erase(finished_order_.front());
        finished_order_.pop_front();
    }
    if (open_label_ == label) {
        end_text_line();
    }
}

bool watch_view::feed(std::string_view client, std::string_view id, std::string_view payload) {
    std::string label(client);
    label += '/';
    label += id;
    if (finished_.count(label) != 0) {
        return false;  // a redelivery after the end
    }
    stream& s = streams_[label];
    std::vector<json> events;
    s.assembler.feed(payload, events);
    for (const auto& ev : events) {
        print(label, ev);
    }
    s.delivered += events.size();
    const auto& found = s.assembler.violations();
    for (; s.violations_shown < found.size(); ++s.violations_shown) {
        end_text_line();
        write(err_, "[" + label + "] protocol violation: " + found[s.violations_shown] + "\n");
    }
    if (s.assembler.finished()) {
        forget(label);
        return true;
    }
    if (s.delivered == 0) {
        // Nothing shown yet: the watch may have started in the middle of this request, whose
        // first messages it never gets. Its terminal event still says how it ended.
        const json ev = json::parse(payload, nullptr, false);
        if (ev.is_object() && is_terminal(field(ev, "type"))) {
            line(label, "(joined mid-stream) " + describe(ev));
            forget(label);
            return true;
        }
    }
    return false;
}

}  // namespace llmb::cli
