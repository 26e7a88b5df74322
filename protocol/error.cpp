#include "protocol/error.hpp"
