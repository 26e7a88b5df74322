#include "request_body.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace llmb::cli {

using nlohmann::json;

json read_tools_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read tools file " + path);
    }
    std::ostringstream text;
    text << in.rdbuf();
    json tools = json::parse(text.str(), nullptr, false);
    if (tools.is_discarded()) {
        throw std::runtime_error("tools file " + path + " is not valid JSON");
    }
    if (!tools.is_array() || tools.empty()) {
        throw std::runtime_error("tools file " + path +
                                 " must hold a non-empty JSON array of tools");
    }
    return tools;
}

std::string build_request(const ask_options& opt, std::string_view question,
                          const std::optional<json>& tools) {
    json messages = json::array();
    if (opt.system) {
        messages.push_back({{"role", "system"}, {"content", *opt.system}});
    }
    messages.push_back({{"role", "user"}, {"content", std::string(question)}});

    json req = json::object();
    req["id"] = opt.id;
    req["messages"] = std::move(messages);
    if (opt.model) {
        req["model"] = *opt.model;
    }
    if (opt.temperature) {
        req["temperature"] = *opt.temperature;
    }
    if (opt.max_tokens) {
        req["max_tokens"] = *opt.max_tokens;
    }
    if (tools) {
        req["tools"] = *tools;
    }
    if (!opt.stream) {
        req["stream"] = false;
    }
    if (opt.max_packet) {
        req["max_packet"] = *opt.max_packet;
    }
    if (opt.flush_ms) {
        req["flush_ms"] = *opt.flush_ms;
    }
    // Text typed or piped in may hold invalid UTF-8: send U+FFFD rather than fail.
    return req.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace llmb::cli
