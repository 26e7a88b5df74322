#include "daemon/config/project_defaults.hpp"

#include <algorithm>
#include <charconv>

#include "protocol/json_text.hpp"

namespace llmb {

protocol::chat_message make_message(std::string role, std::string content) {
    protocol::chat_message m;
    m.raw_json = "{\"role\":";
    protocol::append_json_string(m.raw_json, role);
    m.raw_json += ",\"content\":";
    protocol::append_json_string(m.raw_json, content);
    m.raw_json += '}';
    m.role = std::move(role);
    m.content = std::move(content);
    return m;
}

void apply_project_defaults(protocol::request& req, const project_config& project,
                            const std::string* system_override) {
    const std::string& system =
        system_override != nullptr ? *system_override : project.system_prompt;
    const bool has_system = std::any_of(req.messages.begin(), req.messages.end(),
                                        [](const auto& m) { return m.role == "system"; });
    if (!has_system && !system.empty()) {
        req.messages.insert(req.messages.begin(), make_message("system", system));
    }
    if (!req.temperature)
        req.temperature = project.temperature;
    if (!req.top_p)
        req.top_p = project.top_p;
    if (!req.max_tokens)
        req.max_tokens = project.max_tokens;
    if (req.tools_json.empty())
        req.tools_json = project.tools_json;
}

std::string model_for(const protocol::request& req, const project_config& project) {
    return req.model ? *req.model : project.model;
}

protocol::upstream_options upstream_options_for(const protocol::request& req,
                                                const project_config& project) {
    protocol::upstream_options o;
    o.model = model_for(req, project);
    o.stream = true;
    if (project.thinking == thinking_mode::on)
        o.enable_thinking = true;
    if (project.thinking == thinking_mode::off)
        o.enable_thinking = false;
    if (!project.lora.empty()) {
        std::string& j = o.lora_json;
        j = "[";
        for (std::size_t i = 0; i < project.lora.size(); ++i) {
            if (i > 0)
                j += ',';
            char buf[64];
            j += "{\"id\":" + std::to_string(project.lora[i].id) + ",\"scale\":";
            const auto r = std::to_chars(buf, buf + sizeof buf, project.lora[i].scale);
            j.append(buf, r.ptr);
            j += '}';
        }
        j += ']';
    }
    return o;
}

}  // namespace llmb
