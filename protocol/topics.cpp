#include "protocol/topics.hpp"
