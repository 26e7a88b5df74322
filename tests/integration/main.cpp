// Test runner of the integration tests. A listener records whether the running test has failed,
// so that test_dir keeps the directory and prints the programs' logs exactly then.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <MQTTAsync.h>
#include <doctest/doctest.h>

#include <signal.h>

#include "harness.hpp"

namespace {

// Paho C frees its global state (its trace buffer among it) each time the last client of the
// process is destroyed, and sets it up again for the next one. The threads of the clients just
// destroyed may still be writing a trace entry at that moment; the C library (1.3.12) does not
// lock against that, and the trace buffer they allocate anew is then lost to the next setup
// (a 124,800-byte leak that LeakSanitizer reports now and then). Tests create and destroy
// clients all the time, so the kit holds one client that never connects and is never
// destroyed: the library's global state is set up once and stays. It opens no socket and
// starts no thread.
[[maybe_unused]] const bool paho_kept_initialized = [] {
    MQTTAsync keeper = nullptr;
    return MQTTAsync_create(&keeper, "tcp://127.0.0.1:1", "llmb-itest-keeper",
                            MQTTCLIENT_PERSISTENCE_NONE, nullptr) == MQTTASYNC_SUCCESS;
}();

struct failure_listener : doctest::IReporter {
    explicit failure_listener(const doctest::ContextOptions&) {}

    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override {
        llmb::itest::reset_test_failure();
        // A peer that closes a socket must not kill the test run.
        ::signal(SIGPIPE, SIG_IGN);
    }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {
        llmb::itest::note_test_failure();
    }
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData& ad) override {
        if (ad.m_failed) {
            llmb::itest::note_test_failure();
        }
    }
    void log_message(const doctest::MessageData& md) override {
        if ((md.m_severity & doctest::assertType::is_warn) == 0) {
            llmb::itest::note_test_failure();
        }
    }
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

REGISTER_LISTENER("failure_listener", 1, failure_listener);
