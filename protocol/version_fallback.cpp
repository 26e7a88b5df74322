#include "protocol/version_fallback.hpp"

namespace llmb::protocol {

connect_failure classify_connect_failure(int rc, std::string_view message) noexcept {
    if (rc == 1 || rc == 0x84)
        return connect_failure::version_refused;
    if (rc == -1 && message == "TCP connect completion failure")
        return connect_failure::closed_before_connack;
    return connect_failure::other;
}

version_picker::version_picker(version_choice choice) noexcept
    : choice_(choice),
      current_(choice == version_choice::v3_1_1 ? mqtt_version::v3_1_1 : mqtt_version::v5) {}

version_picker::step version_picker::on_failure(connect_failure f) noexcept {
    if (choice_ != version_choice::automatic || settled_)
        return step::retry;
    if (current_ == mqtt_version::v3_1_1) {
        // A fallback on closes alone, and 3.1.1 does not connect either.
        current_ = mqtt_version::v5;
        fell_back_ = false;
        closes_ = 0;
        return step::go_back;
    }
    if (f == connect_failure::version_refused) {
        settled_ = true;
    } else if (f == connect_failure::closed_before_connack && ++closes_ >= 2) {
        closes_ = 0;
    } else {
        if (f == connect_failure::other)
            closes_ = 0;
        return step::retry;
    }
    current_ = mqtt_version::v3_1_1;
    fell_back_ = true;
    return step::fall_back;
}

void version_picker::on_connected() noexcept {
    closes_ = 0;
    // Either version that connects is kept: a broker that took MQTT 5 once speaks it, and a proxy
    // that closes connections while the broker behind it restarts must not cost the bridge its
    // MQTT 5 features.
    settled_ = true;
}

}  // namespace llmb::protocol
