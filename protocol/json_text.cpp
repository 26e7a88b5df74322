#include "protocol/json_text.hpp"
