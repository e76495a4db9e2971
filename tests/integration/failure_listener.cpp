// Catch listener: prints the broker's log when a test case fails, and removes the test
// case's temp directories when it ends.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "tests/integration/harness/broker.hpp"

namespace tern::it {
namespace {

class FailureListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    finish_test_artifacts(stats.totals.assertions.failed > 0);
  }
};

CATCH_REGISTER_LISTENER(FailureListener)

}  // namespace
}  // namespace tern::it
