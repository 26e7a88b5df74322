#include "daemon/config/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "daemon/config/config_project.hpp"
#include "daemon/config/config_yaml.hpp"
#include "protocol/topics.hpp"

namespace llmb {

namespace {

using config_yaml::error_list;
using config_yaml::located;
using config_yaml::map_reader;

// What section parsers share: where errors go, where secrets come from, and the directory that
// relative secret files are resolved against.
struct context {
    error_list& errors;
    const config_environment& env;
    std::string base_dir;  // "" or ending in '/'
};

bool valid_env_name(std::string_view s) noexcept {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9'))
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    });
}

std::string strip_trailing_newlines(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

// Reads a secret given as key, key_file or key_env (one of them at most).
void read_secret(const context& ctx, const map_reader& m, const std::string& key,
                 std::string& out) {
    const std::string keys[] = {key, key + "_file", key + "_env"};
    std::vector<std::string> given;
    for (const auto& k : keys)
        if (m.get(k))
            given.push_back(k);
    std::sort(given.begin(), given.end(), [&](const std::string& a, const std::string& b) {
        const auto ma = m.key_mark(a), mb = m.key_mark(b);
        return std::pair(ma.line, ma.column) < std::pair(mb.line, mb.column);
    });
    for (std::size_t i = 1; i < given.size(); ++i) {
        ctx.errors.add(m.key_mark(given[i]), m.path_of(given[i]),
                       "the secret is already given by " + given[0] + " on line " +
                           std::to_string(m.key_mark(given[0]).line + 1) + "; use one of " +
                           keys[0] + ", " + keys[1] + ", " + keys[2]);
    }
    if (given.size() != 1)
        return;
    const located v = *m.get(given[0]);
    const auto text = config_yaml::read_string(ctx.errors, v);
    if (!text)
        return;
    if (given[0] == keys[0]) {
        out = *text;
    } else if (given[0] == keys[1]) {
        if (text->empty()) {
            ctx.errors.add(v.mark, v.path, "must name a file");
            return;
        }
        const std::string path = text->front() == '/' ? *text : ctx.base_dir + *text;
        std::string why = "no file access";
        const auto content = ctx.env.read_file ? ctx.env.read_file(path, why) : std::nullopt;
        if (!content) {
            ctx.errors.add(v.mark, v.path,
                           "cannot read " + config_yaml::in_quotes(path) + ": " + why);
            return;
        }
        out = strip_trailing_newlines(*content);
    } else {
        if (!valid_env_name(*text)) {
            ctx.errors.add(v.mark, v.path,
                           "must name an environment variable ([A-Za-z_][A-Za-z0-9_]*), got " +
                               config_yaml::in_quotes(*text));
            return;
        }
        const auto value = ctx.env.getenv ? ctx.env.getenv(*text) : std::nullopt;
        if (!value) {
            ctx.errors.add(v.mark, v.path, "environment variable " + *text + " is not set");
            return;
        }
        out = *value;
    }
}

// A URL with one of the given schemes and something after it; trailing slashes are dropped.
void read_url(const context& ctx, const map_reader& m, std::string_view key,
              const std::vector<std::string_view>& schemes, std::string& out) {
    const auto v = m.get(key);
    if (!v)
        return;
    const auto s = config_yaml::read_string(ctx.errors, *v);
    if (!s)
        return;
    std::string url = *s;
    while (!url.empty() && url.back() == '/')
        url.pop_back();
    for (const auto scheme : schemes) {
        if (url.size() > scheme.size() && url.compare(0, scheme.size(), scheme) == 0) {
            out = url;
            return;
        }
    }
    std::string allowed;
    for (const auto scheme : schemes) {
        if (!allowed.empty())
            allowed += scheme == schemes.back() ? " or " : ", ";
        allowed += scheme;
    }
    ctx.errors.add(v->mark, v->path,
                   "must be a URL starting with " + allowed + " and naming a host, got " +
                       config_yaml::in_quotes(*s));
}

tls_config read_tls(const context& ctx, const located& at) {
    tls_config t;
    const map_reader m(ctx.errors, at,
                       {"ca_file", "ca_path", "cert_file", "key_file", "key_password",
                        "key_password_file", "key_password_env", "insecure"});
    // Paths are used as given when absolute, else relative to the configuration file.
    const auto read_path = [&](std::string_view key, std::string& out) {
        m.read(key, out);
        if (!out.empty() && out.front() != '/')
            out = ctx.base_dir + out;
    };
    read_path("ca_file", t.ca_file);
    read_path("ca_path", t.ca_path);
    read_path("cert_file", t.cert_file);
    read_path("key_file", t.key_file);
    read_secret(ctx, m, "key_password", t.key_password);
    m.read("insecure", t.insecure);
    if (!t.key_file.empty() && t.cert_file.empty()) {
        const auto v = m.get("key_file");
        ctx.errors.add(v->mark, v->path, "a key_file needs a cert_file");
    }
    return t;
}

// Topic prefixes a v5 Response Topic may start with: no wildcards, not empty, "{client}" (the
// requesting client) only as a whole level.
std::vector<std::string> read_response_prefixes(const context& ctx, const located& at) {
    std::vector<std::string> out;
    const auto items = config_yaml::read_list(ctx.errors, at, "a list of topic prefixes");
    if (!items)
        return out;
    for (const auto& item : *items) {
        const auto s = config_yaml::read_string(ctx.errors, item);
        if (!s)
            continue;
        if (!protocol::valid_response_prefix(*s)) {
            ctx.errors.add(item.mark, item.path,
                           "must be a topic prefix without wildcards, '$' or a leading '/', "
                           "with {client} only as a whole level before more levels, got " +
                               config_yaml::in_quotes(*s));
            continue;
        }
        out.push_back(*s);
    }
    return out;
}

mqtt_config read_mqtt(const context& ctx, const located& at) {
    mqtt_config c;
    const map_reader m(
        ctx.errors, at,
        {"url", "client_id", "version", "keep_alive_s", "session_expiry_s", "username", "password",
         "password_file", "password_env", "max_packet", "qos", "text_topic", "text_qos", "tls",
         "chunk_expiry_s", "response_prefixes", "max_inflight"});
    read_url(ctx, m, "url", {"tcp://", "mqtt://", "ssl://", "mqtts://"}, c.url);
    if (c.url.rfind("mqtt://", 0) == 0)
        c.url = "tcp://" + c.url.substr(7);
    if (c.url.rfind("mqtts://", 0) == 0)
        c.url = "ssl://" + c.url.substr(8);
    m.read("client_id", c.client_id);
    if (const auto v = m.get("version")) {
        if (const auto s = config_yaml::read_choice(ctx.errors, *v, {"auto", "5", "3.1.1"})) {
            c.version = *s == "auto" ? protocol::version_choice::automatic
                        : *s == "5"  ? protocol::version_choice::v5
                                     : protocol::version_choice::v3_1_1;
        }
    }
    m.read_int("keep_alive_s", c.keep_alive_s, 5, 3600);
    m.read_int("session_expiry_s", c.session_expiry_s, 1, 4294967295LL, true);
    m.read("username", c.username);
    read_secret(ctx, m, "password", c.password);
    m.read_int("max_packet", c.max_packet, 64, 268435455);
    m.read_int("qos", c.qos, 0, 1);
    m.read("text_topic", c.text_topic);
    m.read_int("text_qos", c.text_qos, 0, 1);
    m.read_int("max_inflight", c.max_inflight, 1, 65535);
    if (const auto v = m.get("tls"))
        c.tls = read_tls(ctx, *v);
    m.read_int("chunk_expiry_s", c.chunk_expiry_s, 1, 86400 * 365, true);
    if (const auto v = m.get("response_prefixes"))
        c.response_prefixes = read_response_prefixes(ctx, *v);
    return c;
}

std::vector<std::string> read_models(const context& ctx, const located& at) {
    std::vector<std::string> out;
    const auto items = config_yaml::read_list(ctx.errors, at, "a list of model names");
    if (!items)
        return out;
    for (const auto& item : *items) {
        const auto s = config_yaml::read_string(ctx.errors, item);
        if (s && s->empty())
            ctx.errors.add(item.mark, item.path, "must be a model name, got nothing");
        else if (s)
            out.push_back(*s);
    }
    return out;
}

std::vector<backend_config> read_backends(const context& ctx, const located& at) {
    std::vector<backend_config> out;
    const auto items = config_yaml::read_list(ctx.errors, at, "a list of backends");
    if (!items)
        return out;
    config_yaml::unique_values names(ctx.errors, "backend name");
    for (std::size_t i = 0; i < items->size(); ++i) {
        const located& item = (*items)[i];
        backend_config b;
        b.name = "backend" + std::to_string(i);
        const map_reader m(ctx.errors, item,
                           {"name", "url", "api_key", "api_key_file", "api_key_env", "models",
                            "slots", "queue", "context_tokens", "health_interval_ms", "tls"});
        if (!m.is_map())
            continue;
        if (const auto v = m.get("name")) {
            const auto s = config_yaml::read_string(ctx.errors, *v);
            if (s && s->empty())
                ctx.errors.add(v->mark, v->path, "must not be empty");
            else if (s)
                b.name = *s;
        }
        const auto name_at = m.get("name");
        names.check(b.name, name_at ? name_at->mark : item.mark, m.path_of("name"));
        if (!m.get("url"))
            ctx.errors.add(item.mark, item.path, "missing key url (e.g. http://127.0.0.1:8080)");
        read_url(ctx, m, "url", {"http://", "https://"}, b.url);
        read_secret(ctx, m, "api_key", b.api_key);
        if (const auto v = m.get("models"))
            b.models = read_models(ctx, *v);
        m.read_int("slots", b.slots, 1, 100000);
        m.read_int("queue", b.queue, 0, 100000);
        m.read_int("context_tokens", b.context_tokens, 128, 10000000, true);
        m.read_ms("health_interval_ms", b.health_interval, 100, 3600000, true);
        if (const auto v = m.get("tls"))
            b.tls = read_tls(ctx, *v);
        out.push_back(std::move(b));
    }
    return out;
}

timeouts_config read_timeouts(const context& ctx, const located& at) {
    timeouts_config t;
    const map_reader m(ctx.errors, at, {"connect_ms", "first_byte_ms", "idle_ms", "total_ms"});
    constexpr std::int64_t day_ms = 86400000;
    m.read_ms("connect_ms", t.connect, 1, day_ms);
    m.read_ms("first_byte_ms", t.first_byte, 1, day_ms);
    m.read_ms("idle_ms", t.idle, 1, day_ms);
    m.read_ms("total_ms", t.total, 1, day_ms);
    return t;
}

sessions_config read_sessions(const context& ctx, const located& at) {
    sessions_config s;
    const map_reader m(
        ctx.errors, at,
        {"state_dir", "ttl_s", "max_sessions", "context_tokens", "max_messages", "shared"});
    m.read("state_dir", s.state_dir);
    if (const auto v = m.get("ttl_s")) {
        if (const auto n = config_yaml::read_integer(ctx.errors, *v, 1, 31536000))
            s.ttl = std::chrono::seconds(*n);
    }
    m.read_int("max_sessions", s.max_sessions, 1, 10000000);
    m.read_int("context_tokens", s.context_tokens, 128, 10000000);
    m.read_int("max_messages", s.max_messages, 1, 100000);
    m.read("shared", s.shared);
    if (s.shared && s.state_dir.empty()) {
        const auto v = m.get("shared");
        ctx.errors.add(v->mark, v->path, "shared sessions need a state_dir that the bridges share");
    }
    return s;
}

cluster_config read_cluster(const context& ctx, const located& at) {
    cluster_config c;
    const map_reader m(ctx.errors, at, {"group", "bridge_id", "takeover"});
    for (const auto key : {"group", "bridge_id"}) {
        std::string value;
        m.read(key, value);
        if (!value.empty() && !protocol::valid_name(value)) {
            const auto v = m.get(key);
            ctx.errors.add(
                v->mark, v->path,
                "must be 1..64 characters of [A-Za-z0-9_.-], got " + config_yaml::in_quotes(value));
        }
        (std::string_view(key) == "group" ? c.group : c.bridge_id) = value;
    }
    m.read("takeover", c.takeover);
    return c;
}

metrics_config read_metrics(const context& ctx, const located& at) {
    metrics_config c;
    const map_reader m(ctx.errors, at, {"interval_s", "topic"});
    if (const auto v = m.get("interval_s")) {
        if (const auto n = config_yaml::read_integer(ctx.errors, *v, 1, 86400, true))
            c.interval = std::chrono::seconds(*n);
    }
    m.read("topic", c.topic);
    if (!c.topic.empty() && !protocol::valid_prefix(c.topic)) {
        const auto v = m.get("topic");
        ctx.errors.add(v->mark, v->path,
                       "must be a topic without wildcards, '$' or a leading '/', got " +
                           config_yaml::in_quotes(c.topic));
    }
    return c;
}

resume_config read_resume(const context& ctx, const located& at) {
    resume_config r;
    const map_reader m(ctx.errors, at, {"ttl_s", "max_request_bytes", "max_total_bytes"});
    if (const auto v = m.get("ttl_s")) {
        if (const auto n = config_yaml::read_integer(ctx.errors, *v, 0, 86400))
            r.ttl = std::chrono::seconds(*n);
    }
    m.read_int("max_request_bytes", r.request_bytes, 0, std::int64_t{1} << 30);
    m.read_int("max_total_bytes", r.total_bytes, 0, std::int64_t{16} << 30);
    return r;
}

config read_document(const context& ctx, const YAML::Node& root) {
    config c;
    const located doc = config_yaml::document(root);
    if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
        ctx.errors.add(doc.mark, "",
                       "the top level must be a map of sections (mqtt, backends, ...), got " +
                           config_yaml::describe(root));
        return c;
    }
    const map_reader m(ctx.errors, doc,
                       {"mqtt", "backends", "timeouts", "projects", "sessions", "cluster",
                        "metrics", "resume", "max_in_flight", "grace_ms", "log_level"});
    if (const auto v = m.get("mqtt"))
        c.mqtt = read_mqtt(ctx, *v);
    if (const auto v = m.get("backends"))
        c.backends = read_backends(ctx, *v);
    if (c.backends.empty()) {
        backend_config b;
        b.name = "default";
        b.url = "http://127.0.0.1:8080";
        c.backends.push_back(std::move(b));
    }
    if (const auto v = m.get("timeouts"))
        c.timeouts = read_timeouts(ctx, *v);
    if (const auto v = m.get("projects"))
        c.projects = config_yaml::read_projects(ctx.errors, *v, c.backends);
    if (c.projects.empty()) {
        project_config p;
        p.name = p.prefix;
        c.projects.push_back(std::move(p));
    }
    if (const auto v = m.get("sessions"))
        c.sessions = read_sessions(ctx, *v);
    if (const auto v = m.get("cluster"))
        c.cluster = read_cluster(ctx, *v);
    if (const auto v = m.get("metrics"))
        c.metrics = read_metrics(ctx, *v);
    if (const auto v = m.get("resume"))
        c.resume = read_resume(ctx, *v);
    m.read_int("max_in_flight", c.max_in_flight, 1, 1000000);
    m.read_ms("grace_ms", c.grace, 0, 3600000);
    if (const auto v = m.get("log_level")) {
        if (const auto s = config_yaml::read_choice(ctx.errors, *v,
                                                    {"trace", "debug", "info", "warn", "error"}))
            c.log_level = *s;
    }
    return c;
}

}  // namespace

std::string config_error::to_string() const {
    std::string out = file.empty() ? std::string("<config>") : file;
    if (line > 0)
        out += ":" + std::to_string(line) + ":" + std::to_string(column);
    out += ": ";
    if (!path.empty())
        out += path + ": ";
    return out + message;
}

config_environment config_environment::system() {
    config_environment env;
    env.getenv = [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr)
            return std::nullopt;
        return std::string(v);
    };
    env.read_file = [](const std::string& path, std::string& why) -> std::optional<std::string> {
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) {
            why = "it is a directory";
            return std::nullopt;
        }
        errno = 0;
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            why = errno != 0 ? std::strerror(errno) : "cannot open";
            return std::nullopt;
        }
        std::string text;
        char buf[4096];
        while (in.read(buf, sizeof buf) || in.gcount() > 0)
            text.append(buf, static_cast<std::size_t>(in.gcount()));
        if (in.bad()) {
            why = "read error";
            return std::nullopt;
        }
        return text;
    };
    return env;
}

config_result parse_config(std::string_view yaml, const std::string& file_name,
                           const config_environment& env) {
    config_result result;
    error_list errors(file_name);
    YAML::Node root;
    try {
        root = YAML::Load(std::string(yaml));
    } catch (const YAML::Exception& e) {
        errors.add(e.mark, "", e.msg);
        result.errors = errors.take_in_file_order();
        return result;
    }
    const auto slash = file_name.rfind('/');
    const context ctx{errors, env,
                      slash == std::string::npos ? std::string() : file_name.substr(0, slash + 1)};
    config c = read_document(ctx, root);
    c.source = file_name;
    if (errors.empty())
        result.cfg = std::make_shared<const config>(std::move(c));
    else
        result.errors = errors.take_in_file_order();
    return result;
}

config_result load_config(const std::string& path, const config_environment& env) {
    std::string why = "no file access";
    const auto text = env.read_file ? env.read_file(path, why) : std::nullopt;
    if (!text) {
        config_result result;
        config_error e;
        e.file = path;
        e.message = "cannot read: " + why;
        result.errors.push_back(std::move(e));
        return result;
    }
    return parse_config(*text, path, env);
}

std::string cluster_bridge_id(const config& c) {
    if (!c.cluster.bridge_id.empty())
        return c.cluster.bridge_id;
    std::string id;
    for (const char ch : c.mqtt.client_id.substr(0, 64)) {
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        id += ok ? ch : '_';
    }
    return id.empty() ? std::string("bridge") : id;
}

std::shared_ptr<const config> default_config() {
    static const std::shared_ptr<const config> defaults =
        parse_config("", "", config_environment{}).cfg;
    return defaults;
}

}  // namespace llmb
