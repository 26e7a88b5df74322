#include "protocol/response_assembler.hpp"
