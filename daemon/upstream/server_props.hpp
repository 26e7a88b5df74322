// What an LLM server's GET /props says that the bridge uses: llama-server's slot count.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace llmb {

// total_slots of a GET /props answer as llama-server gives it ({"total_slots":4,...}); empty
// when the body is not JSON or has no positive total_slots.
std::optional<std::uint32_t> total_slots_of(std::string_view props_body);

}  // namespace llmb
