#include "protocol/openai.hpp"
