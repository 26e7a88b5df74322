#include "protocol/request.hpp"
