#include "protocol/sse.hpp"
