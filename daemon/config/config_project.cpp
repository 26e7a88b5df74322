#include "daemon/config/config_project.hpp"

#include <algorithm>

#include "protocol/topics.hpp"

namespace llmb::config_yaml {

namespace {

// The rule OpenAI-compatible servers apply to function names.
bool valid_function_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 64)
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

std::optional<nlohmann::ordered_json> read_function(error_list& errors, const located& at,
                                                    unique_values& names) {
    const map_reader f(errors, at, {"name", "description", "parameters", "strict"});
    if (!f.is_map())
        return std::nullopt;
    auto fn = nlohmann::ordered_json::object();
    bool ok = true;
    if (const auto name = f.get("name")) {
        const auto s = read_string(errors, *name);
        if (s && !valid_function_name(*s)) {
            errors.add(name->mark, name->path,
                       "must be a function name of [A-Za-z0-9_-]{1,64}, got " + in_quotes(*s));
            ok = false;
        } else if (s) {
            ok = names.check(*s, name->mark, name->path) && ok;
            fn["name"] = *s;
        } else {
            ok = false;
        }
    } else {
        errors.add(at.mark, at.path, "missing key name (the function's name)");
        ok = false;
    }
    if (const auto d = f.get("description")) {
        if (const auto s = read_string(errors, *d))
            fn["description"] = *s;
        else
            ok = false;
    }
    if (const auto p = f.get("parameters")) {
        if (p->node.IsMap()) {
            fn["parameters"] = to_json(p->node);
        } else {
            errors.add(p->mark, p->path,
                       "must be a map (a JSON Schema object), got " + describe(p->node));
            ok = false;
        }
    }
    if (const auto st = f.get("strict")) {
        if (const auto b = read_bool(errors, *st))
            fn["strict"] = *b;
        else
            ok = false;
    }
    if (!ok)
        return std::nullopt;
    return fn;
}

std::vector<lora_adapter> read_lora(error_list& errors, const located& at) {
    std::vector<lora_adapter> out;
    const auto items = read_list(errors, at, "a list of adapters ({id, scale})");
    if (!items)
        return out;
    unique_values ids(errors, "adapter id");
    for (const auto& item : *items) {
        const map_reader m(errors, item, {"id", "scale"});
        if (!m.is_map())
            continue;
        lora_adapter a;
        if (const auto id = m.get("id")) {
            if (const auto v = read_integer(errors, *id, 0, 1000)) {
                a.id = static_cast<int>(*v);
                ids.check(std::to_string(a.id), id->mark, id->path);
            }
        } else {
            errors.add(item.mark, item.path, "missing key id (the adapter's index on the server)");
        }
        m.read_number("scale", a.scale, -10.0, 10.0);
        out.push_back(a);
    }
    return out;
}

void read_limits(error_list& errors, const located& at, project_config& p) {
    const map_reader m(
        errors, at,
        {"max_request_bytes", "max_messages", "max_tokens", "max_stop", "max_flush_ms",
         "min_packet", "rate_per_second", "rate_burst", "max_concurrent_per_client"});
    auto& l = p.request_limits;
    m.read_int("max_request_bytes", l.max_request_bytes, 64, 16 * 1024 * 1024);
    m.read_int("max_messages", l.max_messages, 1, 100000);
    m.read_int("max_tokens", l.max_tokens, 1, 1000000);
    m.read_int("max_stop", l.max_stop, 0, 64);
    m.read_int("max_flush_ms", l.max_flush_ms, 0, 600000);
    m.read_int("min_packet", l.min_packet, 64, 268435455);
    m.read_number("rate_per_second", p.rate.per_second, 0.0, 100000.0);
    m.read_number("rate_burst", p.rate.burst, 1.0, 100000.0);
    m.read_int("max_concurrent_per_client", p.max_concurrent_per_client, 1, 10000);
}

// A model is served when some backend lists it or some backend serves any model.
bool model_served(const std::string& model, const std::vector<backend_config>& backends) {
    return std::any_of(backends.begin(), backends.end(), [&](const backend_config& b) {
        return b.models.empty() ||
               std::find(b.models.begin(), b.models.end(), model) != b.models.end();
    });
}

struct project_checks {
    unique_values prefixes;
    unique_values names;
};

project_config read_project(error_list& errors, const located& at,
                            const std::vector<backend_config>& backends, project_checks& checks) {
    project_config p;
    const map_reader m(errors, at,
                       {"name", "prefix", "system_prompt", "model", "temperature", "top_p",
                        "max_tokens", "tools", "thinking", "lora", "legacy", "limits"});
    if (!m.is_map())
        return p;

    // A prefix left out is the default "llm"; a wrong one is reported once, not again as a
    // duplicate.
    YAML::Mark prefix_mark = at.mark;
    bool prefix_ok = true;
    if (const auto v = m.get("prefix")) {
        prefix_mark = v->mark;
        const auto s = read_string(errors, *v);
        if (s && !protocol::valid_prefix(*s)) {
            errors.add(v->mark, v->path,
                       "must be topic levels of [A-Za-z0-9_.-]{1,64} separated by '/', with no "
                       "wildcards and no leading '$' or '/', got " +
                           in_quotes(*s));
        }
        prefix_ok = s && protocol::valid_prefix(*s);
        if (prefix_ok)
            p.prefix = *s;
    }
    if (prefix_ok)
        prefix_ok = checks.prefixes.check(p.prefix, prefix_mark, m.path_of("prefix"));

    p.name = p.prefix;
    if (const auto v = m.get("name")) {
        const auto s = read_string(errors, *v);
        if (s && s->empty()) {
            errors.add(v->mark, v->path, "must not be empty (leave it out to use the prefix)");
        } else if (s) {
            p.name = *s;
            checks.names.check(p.name, v->mark, v->path);
        }
    } else if (prefix_ok) {
        checks.names.check(p.name, prefix_mark, m.path_of("name"));
    }

    m.read("system_prompt", p.system_prompt);
    m.read("model", p.model);
    if (!p.model.empty() && !model_served(p.model, backends)) {
        const auto v = m.get("model");
        errors.add(v->mark, v->path,
                   "no backend serves " + in_quotes(p.model) + " (add it to a backend's models)");
    }
    m.read_number("temperature", p.temperature, 0.0, 2.0);
    m.read_number("top_p", p.top_p, 0.0, 1.0);
    m.read_int("max_tokens", p.max_tokens, 1, 1000000);
    if (const auto v = m.get("thinking")) {
        if (const auto s = read_choice(errors, *v, {"default", "on", "off"})) {
            p.thinking = *s == "on"    ? thinking_mode::on
                         : *s == "off" ? thinking_mode::off
                                       : thinking_mode::server_default;
        }
    }
    m.read("legacy", p.legacy);
    if (const auto v = m.get("lora"))
        p.lora = read_lora(errors, *v);
    if (const auto v = m.get("tools"))
        p.tools_json = read_tools(errors, *v);
    if (const auto v = m.get("limits"))
        read_limits(errors, *v, p);

    if (p.max_tokens && *p.max_tokens > p.request_limits.max_tokens) {
        const auto v = m.get("max_tokens");
        errors.add(v->mark, v->path,
                   "must not exceed limits.max_tokens (" +
                       std::to_string(p.request_limits.max_tokens) + "), got " +
                       std::to_string(*p.max_tokens));
    }
    return p;
}

}  // namespace

std::string read_tools(error_list& errors, const located& at) {
    const auto items =
        read_list(errors, at, "a list of tools ({type: function, function: {name: ...}})");
    if (!items || items->empty())
        return "";
    auto tools = nlohmann::ordered_json::array();
    unique_values names(errors, "function name");
    for (const auto& item : *items) {
        const map_reader t(errors, item, {"type", "function"});
        if (!t.is_map())
            continue;
        if (const auto type = t.get("type"))
            read_choice(errors, *type, {"function"});
        else
            errors.add(item.mark, item.path, "missing key type (type: function)");
        const auto fn = t.get("function");
        if (!fn) {
            errors.add(item.mark, item.path, "missing key function ({name: ...})");
            continue;
        }
        if (auto f = read_function(errors, *fn, names)) {
            auto tool = nlohmann::ordered_json::object();
            tool["type"] = "function";
            tool["function"] = std::move(*f);
            tools.push_back(std::move(tool));
        }
    }
    return tools.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::vector<project_config> read_projects(error_list& errors, const located& at,
                                          const std::vector<backend_config>& backends) {
    std::vector<project_config> out;
    const auto items = read_list(errors, at, "a list of projects");
    if (!items)
        return out;
    project_checks checks{unique_values(errors, "project prefix"),
                          unique_values(errors, "project name")};
    for (const auto& item : *items)
        out.push_back(read_project(errors, item, backends, checks));
    return out;
}

}  // namespace llmb::config_yaml
