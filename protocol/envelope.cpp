#include "protocol/envelope.hpp"
