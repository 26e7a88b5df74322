// The "projects" section of the configuration: prefixes with their own defaults and limits.
#pragma once

#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/config/config_yaml.hpp"

namespace llmb::config_yaml {

// Reads the list of projects (empty when the section is absent or empty). Models are checked
// against the backends: a project's model must be served by one of them.
std::vector<project_config> read_projects(error_list& errors, const located& at,
                                          const std::vector<backend_config>& backends);

// Reads a list of tools ({type: function, function: {name, description, parameters, strict}})
// into a compact JSON array; "" for none.
std::string read_tools(error_list& errors, const located& at);

}  // namespace llmb::config_yaml
