// Test runner of the integration tests. A listener records whether the running test has failed,
// so that test_dir keeps the directory and prints the programs' logs exactly then.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <signal.h>

#include "harness.hpp"

namespace {

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
