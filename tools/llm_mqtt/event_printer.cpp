#include "event_printer.hpp"

#include <cstdio>

namespace llmb::cli {

using nlohmann::json;

namespace {

constexpr const char* dim_on = "\x1b[2m";
constexpr const char* dim_off = "\x1b[22m";

std::string dump(const json& v, int indent = -1) {
    return v.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string string_field(const json& ev, const char* key) {
    auto it = ev.find(key);
    if (it == ev.end()) {
        return {};
    }
    return it->is_string() ? it->get<std::string>() : dump(*it);
}

const json* number_field(const json& ev, const char* key) {
    auto it = ev.find(key);
    return it != ev.end() && it->is_number() ? &*it : nullptr;
}

std::string format_fixed1(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

}  // namespace

event_printer::event_printer(std::FILE* out, std::FILE* err, printer_options opt)
    : out_(out), err_(err), opt_(opt) {}

void event_printer::write_out(const std::string& s) {
    if (s.empty()) {
        return;
    }
    std::fwrite(s.data(), 1, s.size(), out_);
    std::fflush(out_);
    out_open_line_ = s.back() != '\n';
}

void event_printer::write_err(const std::string& s) {
    if (s.empty()) {
        return;
    }
    std::fwrite(s.data(), 1, s.size(), err_);
    std::fflush(err_);
    err_open_line_ = s.back() != '\n';
}

void event_printer::end_reasoning() {
    if (!in_reasoning_) {
        return;
    }
    in_reasoning_ = false;
    const bool open_line = err_open_line_;
    if (opt_.err_tty) {
        write_err(dim_off);
    }
    err_open_line_ = false;
    if (open_line) {
        write_err("\n");
    }
}

void event_printer::finish_text() {
    end_reasoning();
    if (opt_.out_tty && out_open_line_) {
        write_out("\n");
    }
}

void event_printer::note(const std::string& line) {
    finish_text();
    write_err(line + "\n");
}

void event_printer::print(const json& ev) {
    if (opt_.json_output) {
        write_out(dump(ev) + "\n");
        const std::string type = string_field(ev, "type");
        if (type == "error") {
            write_err(format_error(ev) + "\n");
        } else if (type == "done" && !opt_.quiet) {
            write_err(format_summary(ev) + "\n");
        }
        return;
    }
    const std::string type = string_field(ev, "type");
    if (type == "chunk") {
        if (auto it = ev.find("reasoning"); it != ev.end() && it->is_string()) {
            if (!in_reasoning_) {
                in_reasoning_ = true;
                if (opt_.err_tty) {
                    write_err(dim_on);
                }
            }
            write_err(it->get<std::string>());
        }
        if (auto it = ev.find("text"); it != ev.end() && it->is_string()) {
            end_reasoning();
            write_out(it->get<std::string>());
        }
    } else if (type == "tool_calls") {
        finish_text();
        if (out_open_line_) {
            write_out("\n");  // the calls start on a line of their own, even in a pipe
        }
        print_tool_calls(ev.value("tool_calls", json::array()));
    } else if (type == "done") {
        finish_text();
        if (!opt_.quiet) {
            write_err(format_summary(ev) + "\n");
        }
    } else if (type == "error") {
        finish_text();
        write_err(format_error(ev) + "\n");
    } else if (type == "session") {
        finish_text();
        write_out(dump(ev, 2) + "\n");
    } else if (opt_.verbose && type == "start") {
        const std::string model = string_field(ev, "model");
        std::string line = "[" + (model.empty() ? std::string() : "model " + model + " · ") +
                           string_field(ev, "mode");
        if (ev.contains("session")) {
            line += " · session " + string_field(ev, "session");
        }
        note(line + "]");
    } else if (opt_.verbose && type == "status") {
        std::string line = "[" + string_field(ev, "status");
        if (ev.contains("position")) {
            line += ", position " + string_field(ev, "position");
        }
        note(line + "]");
    }
}

void event_printer::print_tool_calls(const json& calls) {
    if (!calls.is_array()) {
        write_out(dump(calls, 2) + "\n");
        return;
    }
    for (const auto& call : calls) {
        if (!call.is_object()) {
            write_out(dump(call, 2) + "\n");
            continue;
        }
        const json fn = call.value("function", json::object());
        std::string line = "tool call: " + string_field(fn, "name");
        if (call.contains("id")) {
            line += " (" + string_field(call, "id") + ")";
        }
        write_out(line + "\n");
        // Arguments travel as a JSON string: show them pretty when they are JSON.
        const std::string args = string_field(fn, "arguments");
        const json parsed = json::parse(args, nullptr, false);
        write_out((parsed.is_discarded() ? args : dump(parsed, 2)) + "\n");
    }
}

std::string format_summary(const json& done) {
    std::string s = "[" + string_field(done, "finish_reason");
    const auto add = [&s](const json& obj, const char* key, const char* before, const char* after) {
        if (const json* v = number_field(obj, key)) {
            s += " · ";
            s += before;
            s += v->is_number_float() ? format_fixed1(v->get<double>()) : dump(*v);
            s += after;
        }
    };
    add(done, "chunks", "", " chunks");
    add(done, "bytes", "", " bytes");
    if (auto usage = done.find("usage"); usage != done.end() && usage->is_object()) {
        add(*usage, "completion_tokens", "", " tokens");
    }
    add(done, "ttft_ms", "ttft ", " ms");
    add(done, "tokens_per_second", "", " tok/s");
    add(done, "duration_ms", "", " ms");
    return s + "]";
}

std::string format_error(const json& error_event) {
    std::string s =
        "error: " + string_field(error_event, "code") + ": " + string_field(error_event, "message");
    if (const json* retry = number_field(error_event, "retry_after_ms")) {
        s += " (retry after " + dump(*retry) + " ms)";
    }
    return s;
}

}  // namespace llmb::cli
