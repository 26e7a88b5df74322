#include "daemon/upstream/server_props.hpp"

#include <limits>

#include <nlohmann/json.hpp>

namespace llmb {

std::optional<std::uint32_t> total_slots_of(std::string_view props_body) {
    const nlohmann::json j = nlohmann::json::parse(props_body, nullptr, false);
    const auto it = j.find("total_slots");  // end() when j is not an object
    if (it == j.end() || !it->is_number_unsigned())
        return std::nullopt;
    const auto n = it->get<std::uint64_t>();
    if (n == 0 || n > std::numeric_limits<std::uint32_t>::max())
        return std::nullopt;
    return static_cast<std::uint32_t>(n);
}

}  // namespace llmb
