#include "test_client.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include <mqtt/async_client.h>

namespace llmb::itest {

using namespace std::chrono_literals;

namespace {

std::string unique_client_id() {
    static std::atomic<unsigned> counter{0};
    return "itest-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

std::vector<std::string_view> levels(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    for (;;) {
        auto slash = s.find('/', pos);
        out.push_back(s.substr(pos, slash - pos));
        if (slash == std::string_view::npos) {
            return out;
        }
        pos = slash + 1;
    }
}

std::string event_type(std::string_view payload) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_object() && j.contains("type") && j["type"].is_string()) {
        return j["type"].get<std::string>();
    }
    return {};
}

// Built in place and kept alive by the client: Paho 1.2 keeps pointers into it.
std::unique_ptr<mqtt::connect_options> make_connect_options(const client_options& opts) {
    auto co = std::make_unique<mqtt::connect_options>();
    co->set_mqtt_version(opts.v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    const bool persistent = opts.session_expiry_s != 0;
    if (opts.v5) {
        co->set_clean_start(!persistent);
        if (persistent) {
            mqtt::properties props;
            props.add(
                {mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int>(opts.session_expiry_s)});
            co->set_properties(std::move(props));
        }
    } else {
        co->set_clean_session(!persistent);
    }
    if (opts.auto_reconnect) {
        co->set_automatic_reconnect(100ms, 1s);
    }
    if (!opts.username.empty()) {
        co->set_user_name(opts.username);
        co->set_password(opts.password);
    }
    co->set_keep_alive_interval(30s);
    co->set_connect_timeout(5s);
    return co;
}

std::unique_ptr<mqtt::async_client> make_client(const std::string& broker_url,
                                                const std::string& client_id, bool v5) {
    mqtt::create_options create(v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1, 10000);
    auto cli = std::make_unique<mqtt::async_client>(broker_url, client_id, create, nullptr);
    cli->start_consuming();
    return cli;
}

void close_client(mqtt::async_client& cli) {
    try {
        if (cli.is_connected()) {
            cli.disconnect()->wait_for(5s);
        }
        cli.stop_consuming();
    } catch (...) {
        // The broker may already be gone; nothing to clean up then.
    }
}

struct spare_client {
    std::string broker_url;
    std::unique_ptr<mqtt::async_client> cli;
    std::unique_ptr<mqtt::connect_options> conn_opts;
    mqtt::token_ptr connecting;
};

std::mutex spares_mutex;
std::vector<spare_client> spares;  // guarded by spares_mutex

}  // namespace

void connect_spare_clients(const std::string& broker_url, std::size_t n) {
    std::lock_guard<std::mutex> lock(spares_mutex);
    for (std::size_t i = 0; i < n; ++i) {
        spare_client s{broker_url, make_client(broker_url, unique_client_id(), true),
                       make_connect_options(client_options{}), nullptr};
        s.connecting = s.cli->connect(*s.conn_opts);
        spares.push_back(std::move(s));
    }
}

void drop_spare_clients(const std::string& broker_url) {
    std::vector<spare_client> dropped;
    {
        std::lock_guard<std::mutex> lock(spares_mutex);
        auto keep = std::stable_partition(spares.begin(), spares.end(), [&](const auto& s) {
            return s.broker_url != broker_url;
        });
        std::move(keep, spares.end(), std::back_inserter(dropped));
        spares.erase(keep, spares.end());
    }
    for (auto& s : dropped) {
        close_client(*s.cli);
    }
}

bool topic_matches(std::string_view filter, std::string_view topic) {
    auto f = levels(filter);
    auto t = levels(topic);
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "#") {
            return true;
        }
        if (i >= t.size() || (f[i] != "+" && f[i] != t[i])) {
            return false;
        }
    }
    return f.size() == t.size();
}

// ---------------------------------------------------------------------------------------------

std::string response_stream::raw_text() const {
    std::string out;
    for (const auto& m : text_messages) {
        out += m.payload;
    }
    return out;
}

std::size_t response_stream::count(std::string_view type) const {
    return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const auto& e) {
        return e.value("type", std::string()) == type;
    }));
}

std::size_t response_stream::terminals() const {
    return count("done") + count("error") + count("session");
}

const nlohmann::json* response_stream::first(std::string_view type) const {
    for (const auto& e : events) {
        if (e.value("type", std::string()) == type) {
            return &e;
        }
    }
    return nullptr;
}

const nlohmann::json& response_stream::last() const {
    if (events.empty()) {
        throw std::runtime_error("no event arrived for " + filter);
    }
    return events.back();
}

std::string response_stream::summary() const {
    std::ostringstream out;
    out << "stream " << (topic.empty() ? filter : topic) << ": " << messages.size() << " messages, "
        << events.size() << " events";
    if (!events.empty()) {
        out << ", last "
            << events.back().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    out << (finished() ? ", finished" : ", NOT finished") << ", missing seqs "
        << assembler.missing();
    for (const auto& v : assembler.violations()) {
        out << "; violation: " << v;
    }
    for (const auto& t : other_topics) {
        out << "; also on " << t;
    }
    return out.str();
}

// ---------------------------------------------------------------------------------------------

test_client::test_client(const std::string& broker_url, std::string prefix, bool v5)
    : test_client(broker_url, std::move(prefix), client_options{v5, {}, 0, false, false}) {}

test_client::test_client(const std::string& broker_url, std::string prefix, client_options opts)
    : prefix_(std::move(prefix)),
      client_id_(opts.client_id),
      v5_(opts.v5),
      auto_reconnect_(opts.auto_reconnect) {
    if (opts.plain() && take_spare(broker_url)) {
        return;
    }
    if (client_id_.empty()) {
        client_id_ = unique_client_id();
    }
    cli_ = make_client(broker_url, client_id_, v5_);
    conn_opts_ = make_connect_options(opts);
    auto tok = cli_->connect(*conn_opts_);
    if (!tok->wait_for(10s)) {
        throw std::runtime_error("test client " + client_id_ + ": no CONNACK from " + broker_url +
                                 " within 10 s");
    }
    if (auto_reconnect_ && opts.resubscribe) {
        // Runs on the client library's thread: subscribes without waiting for the SUBACK.
        cli_->set_connected_handler([this](const std::string&) {
            std::lock_guard<std::mutex> lock(filters_mutex_);
            for (const auto& [filter, qos] : filters_) {
                cli_->subscribe(filter, qos);
            }
        });
    }
}

bool test_client::take_spare(const std::string& broker_url) {
    for (;;) {
        spare_client s;
        {
            std::lock_guard<std::mutex> lock(spares_mutex);
            auto it = std::find_if(spares.begin(), spares.end(),
                                   [&](const auto& c) { return c.broker_url == broker_url; });
            if (it == spares.end()) {
                return false;
            }
            s = std::move(*it);
            spares.erase(it);
        }
        bool up = false;
        try {
            up = s.connecting->wait_for(10s) && s.cli->is_connected();
        } catch (const mqtt::exception&) {
            // Refused or lost: try the next one, or connect anew.
        }
        if (up) {
            client_id_ = s.cli->get_client_id();
            cli_ = std::move(s.cli);
            conn_opts_ = std::move(s.conn_opts);
            return true;
        }
        close_client(*s.cli);
    }
}

test_client::~test_client() {
    close_client(*cli_);
}

bool test_client::connected() const {
    return cli_->is_connected();
}

void test_client::subscribe(const std::string& filter, int qos) {
    {
        std::lock_guard<std::mutex> lock(filters_mutex_);
        filters_.emplace_back(filter, qos);
    }
    auto tok = cli_->subscribe(filter, qos);
    if (!tok->wait_for(10s)) {
        throw std::runtime_error("no SUBACK for " + filter + " within 10 s");
    }
    if (v5_) {
        const auto response = tok->get_subscribe_response();
        auto codes = response.get_reason_codes();
        if (codes.empty()) {
            // For a single filter the client library reports the code on the token only.
            codes.push_back(tok->get_reason_code());
        }
        for (auto rc : codes) {
            if (rc >= 0x80) {
                throw std::runtime_error("subscription to " + filter + " refused, reason " +
                                         std::to_string(rc));
            }
        }
    }
}

void test_client::subscribe_client(std::string_view client) {
    subscribe(prefix_ + "/response/" + std::string(client) + "/#");
    subscribe(prefix_ + "/text/" + std::string(client) + "/#");
}

void test_client::publish(const std::string& topic, std::string_view payload, int qos,
                          bool retain) {
    auto tok =
        cli_->publish(mqtt::make_message(topic, payload.data(), payload.size(), qos, retain));
    if (!tok->wait_for(10s)) {
        throw std::runtime_error("publish to " + topic + " not acknowledged within 10 s");
    }
}

void test_client::publish_with(const std::string& topic, std::string_view payload,
                               const publish_props& props) {
    if (!v5_) {
        throw std::logic_error("publish_with needs an MQTT 5 test client");
    }
    mqtt::properties p;
    if (props.response_topic) {
        p.add(mqtt::property(mqtt::property::RESPONSE_TOPIC, *props.response_topic));
    }
    if (props.correlation_data) {
        p.add(mqtt::property(mqtt::property::CORRELATION_DATA, *props.correlation_data));
    }
    auto msg = mqtt::message::create(topic, payload.data(), payload.size(), 1, false, p);
    auto tok = cli_->publish(msg);
    if (!tok->wait_for(10s)) {
        throw std::runtime_error("publish to " + topic + " not acknowledged within 10 s");
    }
}

void test_client::publish_request_with(std::string_view client, const nlohmann::json& request,
                                       const publish_props& props) {
    publish_with(prefix_ + "/request/" + std::string(client), request.dump(), props);
}

void test_client::publish_raw_request(std::string_view client, std::string_view payload) {
    publish(prefix_ + "/request/" + std::string(client), payload);
}

void test_client::publish_request(std::string_view client, const nlohmann::json& request) {
    publish_raw_request(client, request.dump());
}

void test_client::publish_cancel(std::string_view client, std::string_view payload) {
    publish(prefix_ + "/cancel/" + std::string(client), payload);
}

bool test_client::pump(clock_type::time_point deadline) {
    mqtt::const_message_ptr msg;
    auto left = std::chrono::duration_cast<ms>(deadline - clock_type::now());
    bool got =
        left > 0ms ? cli_->try_consume_message_for(&msg, left) : cli_->try_consume_message(&msg);
    if (!got) {
        return false;
    }
    if (!msg) {
        // The client library queues an empty message when the connection is lost.
        if (!auto_reconnect_ && !cli_->is_connected()) {
            throw std::runtime_error("test client " + client_id_ + " lost its connection");
        }
        return true;
    }
    received r;
    r.topic = msg->get_topic();
    r.payload = msg->to_string();
    r.qos = msg->get_qos();
    r.retained = msg->is_retained();
    const auto& props = msg->get_properties();
    if (props.contains(mqtt::property::CORRELATION_DATA)) {
        r.correlation_data = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
    }
    if (props.contains(mqtt::property::RESPONSE_TOPIC)) {
        r.response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
    }
    if (props.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL)) {
        r.message_expiry = mqtt::get<std::uint32_t>(props, mqtt::property::MESSAGE_EXPIRY_INTERVAL);
    }
    inbox_.push_back(std::move(r));
    return true;
}

void test_client::drain() {
    while (pump(clock_type::now())) {
    }
}

void test_client::refresh(response_stream& s) {
    for (; s.scanned < inbox_.size(); ++s.scanned) {
        const received& m = inbox_[s.scanned];
        if (!s.text_topic.empty() && m.topic == s.text_topic) {
            s.text_messages.push_back(m);
            continue;
        }
        if (!topic_matches(s.filter, m.topic)) {
            continue;
        }
        if (s.topic.empty()) {
            s.topic = m.topic;
            if (s.id.empty()) {
                s.id = std::string(levels(m.topic).back());
            }
            std::string head = prefix_ + "/response/";
            if (s.text_topic.empty() && m.topic.rfind(head, 0) == 0) {
                s.text_topic = prefix_ + "/text/" + m.topic.substr(head.size());
                for (std::size_t i = 0; i < s.scanned; ++i) {
                    if (inbox_[i].topic == s.text_topic) {
                        s.text_messages.push_back(inbox_[i]);
                    }
                }
            }
        } else if (m.topic != s.topic) {
            if (std::find(s.other_topics.begin(), s.other_topics.end(), m.topic) ==
                s.other_topics.end()) {
                s.other_topics.push_back(m.topic);
            }
            continue;
        }
        s.messages.push_back(m);
        s.assembler.feed(m.payload, s.events);
    }
}

void test_client::gather(response_stream& s, ms timeout) {
    auto deadline = clock_type::now() + timeout;
    for (;;) {
        refresh(s);
        if (s.finished() || !pump(deadline)) {
            break;
        }
    }
    refresh(s);
}

response_stream test_client::collect(const std::string& filter_or_topic, ms timeout) {
    response_stream s;
    s.filter = filter_or_topic;
    gather(s, timeout);
    return s;
}

response_stream test_client::collect_at(const std::string& topic, std::string_view client,
                                        std::string_view id, ms timeout) {
    response_stream s;
    s.filter = topic;
    s.id = std::string(id);
    s.text_topic = prefix_ + "/text/" + std::string(client) + "/" + std::string(id);
    gather(s, timeout);
    return s;
}

response_stream test_client::collect(std::string_view client, std::string_view id, ms timeout) {
    return collect(prefix_ + "/response/" + std::string(client) + "/" + std::string(id), timeout);
}

bool test_client::await_text(response_stream& s, std::size_t bytes, ms timeout) {
    auto deadline = clock_type::now() + timeout;
    for (;;) {
        refresh(s);
        std::size_t have = 0;
        for (const auto& m : s.text_messages) {
            have += m.payload.size();
        }
        if (have >= bytes) {
            return true;
        }
        if (!pump(deadline)) {
            return false;
        }
    }
}

std::optional<received> test_client::wait_for(const std::string& filter,
                                              const std::function<bool(const received&)>& pred,
                                              ms timeout, std::size_t from) {
    auto deadline = clock_type::now() + timeout;
    std::size_t i = from;
    for (;;) {
        for (; i < inbox_.size(); ++i) {
            if (topic_matches(filter, inbox_[i].topic) && pred(inbox_[i])) {
                return inbox_[i];
            }
        }
        if (!pump(deadline)) {
            return std::nullopt;
        }
    }
}

bool test_client::wait_first_chunk(std::string_view client, std::string_view id, ms timeout) {
    std::string topic = prefix_ + "/response/" + std::string(client) + "/" + std::string(id);
    return wait_for(
               topic, [](const received& m) { return event_type(m.payload) == "chunk"; }, timeout)
        .has_value();
}

}  // namespace llmb::itest
