#include "tokenize.hpp"

#include <nlohmann/json.hpp>

#include "answer.hpp"
#include "http_response.hpp"

namespace llmb::mock {

std::vector<std::uint32_t> tokenize(std::string_view text) {
    std::vector<std::uint32_t> ids;
    std::size_t i = 0;
    while (i < text.size()) {
        if (is_word_space(text[i])) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && !is_word_space(text[end])) {
            ++end;
        }
        ids.push_back(
            static_cast<std::uint32_t>(prompt_hash(text.substr(i, end - i)) % vocab_size));
        i = end;
    }
    return ids;
}

std::size_t prompt_token_count(std::span<const chat_message> messages) noexcept {
    std::size_t n = 0;
    for (const chat_message& m : messages) {
        n += count_words(m.text) + tokens_per_message;
    }
    return n;
}

std::variant<std::string, request_error> tokenize_response(std::string_view body) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& e) {
        return request_error{500, error_body(500, e.what(), "server_error")};
    }
    const auto content = j.find("content");  // end() when j is not an object
    if (content == j.end() || !content->is_string()) {
        return request_error{
            400, error_body(400, "'content' must be a string", "invalid_request_error")};
    }
    std::string out = R"({"tokens":[)";
    bool first = true;
    for (const std::uint32_t id : tokenize(content->get_ref<const std::string&>())) {
        if (!first) {
            out += ',';
        }
        append_uint(out, id);
        first = false;
    }
    out += "]}";
    return out;
}

}  // namespace llmb::mock
