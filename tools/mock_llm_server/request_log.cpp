#include "request_log.hpp"

#include <nlohmann/json.hpp>

namespace llmb::mock {

void request_log::add(std::string_view body) {
    if (capacity_ == 0) {
        return;
    }
    if (bodies_.size() == capacity_) {
        std::string reused = std::move(bodies_.front());  // keeps its buffer for the new body
        bodies_.pop_front();
        reused.assign(body);
        bodies_.push_back(std::move(reused));
        return;
    }
    bodies_.emplace_back(body);
}

std::string request_log::to_json() const {
    using json = nlohmann::ordered_json;  // keeps the keys in the order they were sent
    json array = json::array();
    for (const std::string& body : bodies_) {
        json value = json::parse(body, nullptr, false);
        array.push_back(value.is_discarded() ? json(body) : std::move(value));
    }
    return array.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace llmb::mock
