// Planning the prompt of a session request (see session_turn.hpp).
#include "daemon/sessions/session_turn.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include <nlohmann/json.hpp>

#include "daemon/config/project_defaults.hpp"

namespace llmb {

namespace {

std::uint32_t add_tokens(std::uint32_t a, std::uint32_t b) noexcept {
    return b > UINT32_MAX - a ? UINT32_MAX : a + b;
}

trim_input input_of(const session_turn& t) {
    trim_input in;
    in.system_tokens = t.system_tokens;
    in.history = t.history;
    in.new_tokens = t.fresh_tokens;
    in.max_tokens = t.max_tokens;
    in.context_tokens = t.context_tokens;
    return in;
}

bool mentions_context(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower.find("context") != std::string::npos;
}

}  // namespace

session_turn plan_turn(session_key key, const std::optional<std::string>& session_system,
                       const std::vector<history_message>& history, const protocol::request& req,
                       const std::string& project_system, std::uint32_t context_tokens,
                       std::uint32_t max_tokens) {
    session_turn t;
    t.key = std::move(key);
    t.history = history;
    t.max_tokens = max_tokens;
    t.context_tokens = context_tokens;

    const protocol::chat_message* request_system = nullptr;
    for (const auto& m : req.messages) {
        if (m.role == "system") {
            if (request_system == nullptr)
                request_system = &m;
            continue;
        }
        t.fresh.push_back(m);
        t.fresh_tokens = add_tokens(t.fresh_tokens, estimate_tokens(m.content));
        if (m.role == "user")
            t.user_text = m.content;
    }
    if (session_system) {
        t.system = make_message("system", *session_system);
    } else if (request_system != nullptr) {
        t.system = *request_system;
    } else if (!project_system.empty()) {
        t.system = make_message("system", project_system);
    }
    if (t.system)
        t.system_tokens = estimate_tokens(t.system->content);

    const trim_result r = trim_history(input_of(t));
    t.first_kept = r.first_kept;
    t.fits = r.fits;
    return t;
}

std::vector<protocol::chat_message> turn_messages(const session_turn& turn) {
    std::vector<protocol::chat_message> out;
    out.reserve(1 + kept_messages(turn) + turn.fresh.size());
    if (turn.system)
        out.push_back(*turn.system);
    for (std::size_t i = turn.first_kept; i < turn.history.size(); ++i) {
        out.push_back(make_message(turn.history[i].role, turn.history[i].content));
    }
    out.insert(out.end(), turn.fresh.begin(), turn.fresh.end());
    return out;
}

std::size_t trim_turn_harder(session_turn& turn) {
    turn.retried = true;
    const trim_result r = trim_harder(input_of(turn), turn.first_kept);
    const std::size_t first = std::max(r.first_kept, turn.first_kept);
    const std::size_t dropped = first - turn.first_kept;
    turn.first_kept = first;
    return dropped;
}

bool context_exceeded(long http_status, std::string_view body) {
    if (http_status != 400 && http_status != 413)
        return false;
    const auto doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return mentions_context(body);
    const auto error = doc.find("error");
    const nlohmann::json& e = (error != doc.end() && error->is_object()) ? *error : doc;
    const auto text = [&](const char* name) -> std::string {
        const auto it = e.find(name);
        return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (text("type") == "exceed_context_size_error" || text("code") == "context_length_exceeded") {
        return true;
    }
    if (error != doc.end() && error->is_string()) {
        return mentions_context(error->get_ref<const std::string&>());
    }
    return mentions_context(text("message"));
}

}  // namespace llmb
