// Loggers: one per module, all writing to stderr (journald adds the time under systemd).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace llmb {

// Sets the level and the pattern of every logger; call once at start-up.
void init_logging(spdlog::level::level_enum level);
// The logger of a module ("mqtt", "http", "bridge", ...), created on first use.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name);
// Text from the network (a topic level, an id) made safe for a log line: control and non-ASCII
// bytes become '?', and it is cut at 80 bytes, so hostile input cannot forge log lines.
std::string printable(std::string_view s);

}  // namespace llmb
