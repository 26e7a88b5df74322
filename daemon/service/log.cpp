#include "daemon/service/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <cstdlib>
#include <mutex>

namespace llmb {

namespace {
std::mutex g_mutex;
spdlog::sink_ptr g_sink;
spdlog::level::level_enum g_level = spdlog::level::info;

spdlog::sink_ptr sink() {
    if (!g_sink) {
        g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        // Under systemd the journal stamps the time; elsewhere the line carries it.
        g_sink->set_pattern(std::getenv("JOURNAL_STREAM") != nullptr
                                ? "%-5l [%n] %v"
                                : "%Y-%m-%d %H:%M:%S.%e %-5l [%n] %v");
    }
    return g_sink;
}
}  // namespace

void init_logging(spdlog::level::level_enum level) {
    std::lock_guard lock(g_mutex);
    g_level = level;
    sink();
    spdlog::apply_all([level](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level); });
}

std::shared_ptr<spdlog::logger> get_logger(const std::string& name) {
    std::lock_guard lock(g_mutex);
    if (auto existing = spdlog::get(name))
        return existing;
    auto l = std::make_shared<spdlog::logger>(name, sink());
    l->set_level(g_level);
    spdlog::register_logger(l);
    return l;
}

std::string printable(std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, 80)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    if (s.size() > 80)
        out += "...";
    return out;
}

}  // namespace llmb
