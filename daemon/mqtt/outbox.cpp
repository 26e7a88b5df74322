#include "daemon/mqtt/outbox.hpp"

#include <algorithm>
#include <utility>

namespace llmb {

namespace {
// The window until a broker's CONNACK says otherwise (mosquitto's default Receive Maximum).
constexpr std::size_t first_window = 20;

std::size_t size_of(const outbound_message& m) noexcept {
    return m.topic.size() + m.payload.size();
}
}  // namespace

std::size_t publish_properties_size(const publish_properties& props,
                                    protocol::mqtt_version version) noexcept {
    if (version != protocol::mqtt_version::v5)
        return 0;
    return protocol::publish_properties_size(props.correlation.size(), props.expiry_s != 0);
}

outbox::outbox(std::size_t window_limit, std::size_t client_limit) noexcept
    : window_limit_(window_limit),
      client_limit_(client_limit),
      window_(std::min(window_limit, first_window)) {}

std::uint64_t outbox::enqueue(outbound_message m, bool front) {
    m.ticket = ++last_ticket_;
    bytes_ += size_of(m);
    if (front) {
        queue_.push_front(std::move(m));
        waiting_at_[last_ticket_] = --front_pos_;
    } else {
        queue_.push_back(std::move(m));
        waiting_at_[last_ticket_] = front_pos_ + queue_.size() - 1;
    }
    return last_ticket_;
}

bool outbox::amend(std::uint64_t ticket, std::string payload) {
    const auto it = waiting_at_.find(ticket);
    if (it == waiting_at_.end())
        return false;
    auto& m = queue_[static_cast<std::size_t>(it->second - front_pos_)];
    bytes_ = bytes_ - std::min(bytes_, m.payload.size()) + payload.size();
    m.payload = std::move(payload);
    return true;
}

void outbox::pop_waiting() {
    waiting_at_.erase(queue_.front().ticket);
    queue_.pop_front();
    ++front_pos_;
}

void outbox::set_receive_maximum(std::size_t receive_max) noexcept {
    window_ = std::min(window_limit_, receive_max != 0 ? receive_max : client_limit_);
}

void outbox::limit_packet_size(std::size_t max_packet) noexcept {
    if (max_packet != 0)
        max_packet_ = max_packet_ == 0 ? max_packet : std::min(max_packet_, max_packet);
}

const outbound_message* outbox::next() const noexcept {
    if (queue_.empty() || in_flight_ >= window_)
        return nullptr;
    return &queue_.front();
}

std::size_t outbox::oversize(protocol::mqtt_version version) const noexcept {
    if (max_packet_ == 0 || queue_.empty())
        return 0;
    const auto& m = queue_.front();
    const std::size_t size =
        protocol::publish_packet_size(m.topic.size(), m.payload.size(),
                                      publish_properties_size(m.props, version), m.qos, version);
    return size > max_packet_ ? size : 0;
}

void outbox::hand_over() {
    // Held until settled; its bytes count until then.
    held_.push_back(held{std::move(queue_.front()), false});
    pop_waiting();
    ++in_flight_;
}

void outbox::drop_next() {
    forget(queue_.front());
    pop_waiting();
}

void outbox::acknowledged(message_id id) {
    if (id < base_id_ || id - base_id_ >= held_.size())
        return;
    settle(held_[static_cast<std::size_t>(id - base_id_)]);
    pop_settled();
}

bool outbox::failed(message_id id, int reason_code) {
    if (!refused(reason_code))
        return false;
    acknowledged(id);
    return true;
}

void outbox::settle(held& h) {
    if (h.done)
        return;
    h.done = true;
    --in_flight_;
    forget(h.m);
    h.m = outbound_message{};
}

void outbox::pop_settled() {
    while (!held_.empty() && held_.front().done) {
        held_.pop_front();
        ++base_id_;
    }
}

void outbox::forget(const outbound_message& m) noexcept {
    bytes_ -= std::min(bytes_, size_of(m));
}

std::size_t outbox::republish_unacknowledged() {
    std::size_t again = 0;
    // From the back, each to the front: they end up in their order, before everything waiting.
    for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
        if (it->done)
            continue;
        if (it->m.qos == 0) {
            forget(it->m);
            continue;
        }
        queue_.push_front(std::move(it->m));  // its bytes are still counted
        --front_pos_;
        ++again;
    }
    base_id_ += held_.size();
    held_.clear();
    in_flight_ = 0;
    return again;
}

std::uint64_t outbox::settled_through() const noexcept {
    std::uint64_t lowest = last_ticket_ + 1;  // the oldest message not settled
    for (const auto& h : held_) {
        if (!h.done)
            lowest = std::min(lowest, h.m.ticket);
    }
    for (const auto& m : queue_)
        lowest = std::min(lowest, m.ticket);
    return lowest - 1;
}

void outbox::set_marks(std::size_t high, std::size_t low) noexcept {
    high_ = high;
    low_ = std::min(low, high);
}

bool outbox::check_backlog() noexcept {
    if (high_ == 0)
        return false;
    const bool now = backlogged_ ? bytes_ > low_ : bytes_ > high_;
    if (now == backlogged_)
        return false;
    backlogged_ = now;
    return true;
}

}  // namespace llmb
