#include "protocol/packet.hpp"
