// The status line the daemon gives the service manager (daemon/service/service_status.hpp).
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "daemon/service/service_status.hpp"

using llmb::service_status;

TEST_CASE("status line: state, then the requests in flight and served") {
    CHECK(llmb::status_text({}) == "connecting to the broker, 0 in flight, 0 served");
    CHECK(llmb::status_text({false, true, 2, 17}) == "connected, 2 in flight, 17 served");
    // Stopping wins over the link state.
    CHECK(llmb::status_text({true, true, 1, 3}) == "stopping, 1 in flight, 3 served");
    CHECK(llmb::status_text({true, false, 0, 3}) == "stopping, 0 in flight, 3 served");
    const auto big = std::numeric_limits<std::uint64_t>::max();
    CHECK(llmb::status_text({false, true, 0, big}) ==
          "connected, 0 in flight, 18446744073709551615 served");
}

TEST_CASE("notify message: the head, then one STATUS= line") {
    CHECK(llmb::with_status("READY=1", {false, true, 0, 5}) ==
          "READY=1\nSTATUS=connected, 0 in flight, 5 served");
    CHECK(llmb::with_status("STOPPING=1", {true, true, 4, 5}) ==
          "STOPPING=1\nSTATUS=stopping, 4 in flight, 5 served");
}
