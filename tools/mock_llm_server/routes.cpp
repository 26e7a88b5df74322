// The endpoints: health, models, props, chat completions, tokenize and the /mock/ control paths.
#include "server.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "clock.hpp"
#include "connection.hpp"
#include "http_response.hpp"
#include "protocol/json_text.hpp"
#include "tokenize.hpp"

namespace llmb::mock {

namespace {

std::string models_json(const std::vector<std::string>& models) {
    std::string body = R"({"object":"list","data":[)";
    for (std::size_t i = 0; i < models.size(); ++i) {
        if (i != 0) {
            body += ',';
        }
        body += R"({"id":)";
        protocol::append_json_string(body, models[i]);
        body += R"(,"object":"model","owned_by":"mock"})";
    }
    body += "]}";
    return body;
}

// The status of a POST /mock/health body {"status":200|503}, or 0 when it is anything else.
int requested_health(std::string_view body) {
    const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    const auto status = j.find("status");  // end() when j is not an object
    if (status == j.end() || !status->is_number_integer()) {
        return 0;
    }
    const auto n = status->get<std::int64_t>();
    return n == 200 || n == 503 ? static_cast<int>(n) : 0;
}

}  // namespace

void server::handle_request(connection& c, const request_head& head, std::string_view body) {
    c.keep_alive = head.keep_alive;
    const std::string_view path = target_path(head.target);
    const bool post = head.method == "POST";
    if (path == "/v1/chat/completions" || path == "/chat/completions") {
        if (!post) {
            reply(c, 405, error_body(405, "use POST", "invalid_request_error"), json_type);
            return;
        }
        start_chat(c, head, body);
        return;
    }
    if (post && path == "/tokenize") {
        tokenize(c, body);
        return;
    }
    if (post && path == "/mock/health") {
        set_health(c, body);
        return;
    }
    if (head.method == "GET") {
        handle_get(c, path);
        return;
    }
    reply(c, 404, error_body(404, "File Not Found", "not_found_error"), json_type);
}

void server::handle_get(connection& c, std::string_view path) {
    if (path == "/health" || path == "/v1/health") {
        if (monotonic_ns() < ready_ns_ || health_status_ == 503) {
            reply(c, 503, error_body(503, "Loading model", "unavailable_error"), json_type);
        } else {
            reply(c, 200, R"({"status":"ok"})", json_type);
        }
        return;
    }
    if (path == "/v1/models" || path == "/models") {
        reply(c, 200,
              models_json(options_.models.empty() ? std::vector<std::string>{options_.model}
                                                  : options_.models),
              json_type);
        return;
    }
    if (path == "/props" && options_.slots != 0) {
        // What llama-server reports, cut to the fields a client of it reads.
        std::string props = R"({"total_slots":)";
        append_uint(props, options_.slots);
        props += R"(,"default_generation_settings":{"n_ctx":)";
        append_uint(props, options_.ctx != 0 ? options_.ctx : 4096);
        props += R"(},"model_path":)";
        protocol::append_json_string(props, options_.model);
        props += '}';
        reply(c, 200, props, json_type);
        return;
    }
    if (path == "/mock/stats") {
        reply(c, 200, stats_json(), json_type);
        return;
    }
    if (path == "/mock/last_request") {
        if (have_last_request_) {
            reply(c, 200, last_request_, "application/json");
        } else {
            reply(c, 404, error_body(404, "no chat completion request yet", "not_found_error"),
                  json_type);
        }
        return;
    }
    if (path == "/mock/requests") {
        reply(c, 200, requests_.to_json(), json_type);
        return;
    }
    reply(c, 404, error_body(404, "File Not Found", "not_found_error"), json_type);
}

void server::tokenize(connection& c, std::string_view body) {
    auto answer = tokenize_response(body);
    if (const auto* error = std::get_if<request_error>(&answer)) {
        reply(c, error->status, error->body, json_type);
        return;
    }
    reply(c, 200, std::get<std::string>(answer), json_type);
}

void server::set_health(connection& c, std::string_view body) {
    const int status = requested_health(body);
    if (status == 0) {
        reply(c, 400,
              error_body(400, R"(expected {"status":200} or {"status":503})",
                         "invalid_request_error"),
              json_type);
        return;
    }
    health_status_ = status;
    std::string answer = R"({"status":)";
    append_uint(answer, static_cast<std::uint64_t>(status));
    answer += '}';
    reply(c, 200, answer, json_type);
}

void server::start_chat(connection& c, const request_head& head, std::string_view body) {
    ++stats_.requests;
    last_request_.assign(body);
    have_last_request_ = true;
    requests_.add(body);
    if (!options_.api_key.empty()) {
        const std::string_view auth = head.authorization;
        const std::string_view scheme = "Bearer ";
        if (auth.substr(0, scheme.size()) != scheme ||
            auth.substr(scheme.size()) != options_.api_key) {
            reply(c, 401, error_body(401, "Invalid API Key", "authentication_error"), json_type);
            return;
        }
    }
    auto planned = make_plan(body, defaults_);
    if (const auto* error = std::get_if<request_error>(&planned)) {
        reply(c, error->status, error->body, json_type);
        return;
    }
    chat_plan& plan = std::get<chat_plan>(planned);
    completion_meta meta{"chatcmpl-mock" + std::to_string(++completions_),
                         realtime_ns() / 1'000'000'000, plan.model};
    c.job =
        std::make_unique<chat_job>(std::move(plan), std::move(meta), c.keep_alive, monotonic_ns());
    c.stream_counted = false;
    ++stats_.active;
    drive(c);
}

void server::reply(connection& c, int status, std::string_view body, std::string_view type) {
    append_response(c.out, status, type, body, c.keep_alive);
    if (!c.keep_alive) {
        c.close_after_write = true;
    }
}

std::string server::stats_json() const {
    std::string body = R"({"requests":)";
    append_uint(body, stats_.requests);
    body += R"(,"streams_started":)";
    append_uint(body, stats_.streams_started);
    body += R"(,"streams_completed":)";
    append_uint(body, stats_.streams_completed);
    body += R"(,"streams_aborted":)";
    append_uint(body, stats_.streams_aborted);
    body += R"(,"active":)";
    append_uint(body, stats_.active);
    body += '}';
    return body;
}

}  // namespace llmb::mock
