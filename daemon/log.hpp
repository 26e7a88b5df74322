// Loggers: one per module, all writing to stderr (journald adds the time under systemd).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace llmb {

// Sets the level and the pattern of every logger; call once at start-up.
void init_logging(spdlog::level::level_enum level);
// The logger of a module ("mqtt", "http", "bridge", ...), created on first use.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name);

}  // namespace llmb
