#include "protocol/upstream_request.hpp"
