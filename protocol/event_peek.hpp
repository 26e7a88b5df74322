// A quick look at an event the bridge itself encoded (id, seq, type, and for frags which event
// and which part), without a JSON parser: bridges of a cluster watch each other's response
// streams to know how far each request got, and that must stay cheap per message.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace llmb::protocol {

struct event_head {
    std::string_view id;
    std::uint64_t seq = 0;
    std::string_view type;
    std::string_view bridge;  // start events of a cluster: the serving bridge
    bool terminal = false;    // done, error or session, or the last frag of one
};

// The head of an event in the layout the envelope encoders write ({"id":...,"seq":...,"type":
// ...}). nullopt for anything else: such messages are not the bridge's and are ignored.
std::optional<event_head> peek_event(std::string_view json) noexcept;

}  // namespace llmb::protocol
