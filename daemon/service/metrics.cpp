#include "daemon/service/metrics.hpp"

#include <algorithm>
#include <cmath>

#include "daemon/config/config.hpp"
#include "protocol/json_text.hpp"

namespace llmb {

namespace {

void append_field(std::string& out, const char* key, std::uint64_t v) {
    out += '"';
    out += key;
    out += "\":";
    out += std::to_string(v);
}

void append_latency(std::string& out, const char* key, const latency_summary& l) {
    out += '"';
    out += key;
    out += "\":{";
    append_field(out, "count", l.count);
    for (const auto& [name, value] :
         {std::pair{"p50", l.p50}, {"p90", l.p90}, {"p99", l.p99}, {"max", l.max}}) {
        out += ",\"";
        out += name;
        out += "\":";
        out += l.count == 0 ? std::string("null") : std::to_string(value);
    }
    out += '}';
}

}  // namespace

std::uint64_t nearest_rank(const std::vector<std::uint64_t>& sorted, double p) {
    const double n = static_cast<double>(sorted.size());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * n));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

sample_window::sample_window(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {
    samples_.reserve(capacity_);
}

void sample_window::add(std::uint64_t v) {
    if (samples_.size() < capacity_) {
        samples_.push_back(v);
        return;
    }
    samples_[next_] = v;
    next_ = (next_ + 1) % capacity_;
}

latency_summary sample_window::summarize() const {
    latency_summary s;
    s.count = samples_.size();
    if (samples_.empty())
        return s;
    std::vector<std::uint64_t> sorted = samples_;
    std::sort(sorted.begin(), sorted.end());
    s.p50 = nearest_rank(sorted, 50);
    s.p90 = nearest_rank(sorted, 90);
    s.p99 = nearest_rank(sorted, 99);
    s.max = sorted.back();
    return s;
}

metrics::metrics(std::size_t window) : ttft_(window), duration_(window) {}

void metrics::on_finished(const request_report& r) {
    chunks_ += r.chunks;
    bytes_ += r.bytes;
    switch (r.how) {
        case request_report::end::done:
            ++done_;
            duration_.add(r.duration_ms);
            if (r.ttft_ms)
                ttft_.add(*r.ttft_ms);
            break;
        case request_report::end::cancelled:
            ++cancelled_;
            break;
        case request_report::end::error:
            ++failed_;
            ++errors_[static_cast<std::size_t>(r.code.value_or(protocol::error_code::internal))];
            break;
    }
}

void metrics::on_rejected(protocol::error_code code) {
    ++rejected_;
    ++errors_[static_cast<std::size_t>(code)];
}

void metrics::fill(metrics_snapshot& s) const {
    s.done = done_;
    s.cancelled = cancelled_;
    s.failed = failed_;
    s.rejected = rejected_;
    s.errors.clear();
    for (std::size_t i = 0; i < errors_.size(); ++i) {
        if (errors_[i] == 0)
            continue;
        s.errors.emplace_back(protocol::to_string(static_cast<protocol::error_code>(i)),
                              errors_[i]);
    }
    s.ttft_ms = ttft_.summarize();
    s.duration_ms = duration_.summarize();
    s.window = duration_.capacity();
    s.chunks = chunks_;
    s.bytes = bytes_;
}

std::string encode_metrics(const metrics_snapshot& s) {
    std::string out = "{\"bridge_id\":";
    protocol::append_json_string(out, s.bridge_id);
    out += ",\"version\":";
    protocol::append_json_string(out, s.version);
    out += ",\"time\":" + std::to_string(s.time_s) + ',';
    append_field(out, "uptime_s", s.uptime_s);
    out += ',';
    append_field(out, "interval_s", s.interval_s);

    out += ",\"requests\":{";
    append_field(out, "served", s.done + s.cancelled + s.failed);
    for (const auto& [name, value] : {std::pair{"done", s.done},
                                      {"cancelled", s.cancelled},
                                      {"error", s.failed},
                                      {"rejected", s.rejected},
                                      {"in_flight", s.in_flight},
                                      {"queued", s.queued}}) {
        out += ',';
        append_field(out, name, value);
    }
    out += "},\"errors\":{";
    for (std::size_t i = 0; i < s.errors.size(); ++i) {
        if (i > 0)
            out += ',';
        protocol::append_json_string(out, s.errors[i].first);
        out += ':' + std::to_string(s.errors[i].second);
    }
    out += "},";
    append_latency(out, "ttft_ms", s.ttft_ms);
    out += ',';
    append_latency(out, "duration_ms", s.duration_ms);
    out += ',';
    append_field(out, "window", s.window);

    out += ",\"out\":{";
    append_field(out, "chunks", s.chunks);
    out += ',';
    append_field(out, "bytes", s.bytes);
    out += ',';
    append_field(out, "mqtt_messages", s.mqtt_messages);

    const auto up = static_cast<std::uint64_t>(
        std::count_if(s.backends.begin(), s.backends.end(), [](const auto& b) { return b.up; }));
    out += "},\"backends\":{";
    append_field(out, "up", up);
    out += ',';
    append_field(out, "down", s.backends.size() - up);
    out += ",\"list\":[";
    for (std::size_t i = 0; i < s.backends.size(); ++i) {
        if (i > 0)
            out += ',';
        out += "{\"name\":";
        protocol::append_json_string(out, s.backends[i].name);
        out += s.backends[i].up ? ",\"up\":true," : ",\"up\":false,";
        append_field(out, "slots", s.backends[i].slots);
        out += '}';
    }
    out += "]},\"replay\":{";
    append_field(out, "bytes", s.replay_bytes);
    out += ',';
    append_field(out, "entries", s.replay_entries);
    out += ',';
    append_field(out, "requests", s.replay_requests);
    out += ',';
    append_field(out, "max_bytes", s.replay_max_bytes);
    out += "}}";
    return out;
}

std::string metrics_topic(const config& c) {
    if (!c.metrics.topic.empty())
        return c.metrics.topic;
    const std::string prefix = c.projects.empty() ? std::string("llm") : c.projects.front().prefix;
    std::string topic = prefix + "/metrics";
    if (!c.cluster.group.empty())
        topic += '/' + cluster_bridge_id(c);
    return topic;
}

}  // namespace llmb
