// The journal: when stderr is the journal (JOURNAL_STREAM), and the fields
// an audit record carries there.
#include "jitgate/service/journal.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace jitgate {
namespace {

bool has(const std::vector<std::string>& fields, const std::string& f) {
  return std::find(fields.begin(), fields.end(), f) != fields.end();
}

TEST(Journal, StreamNamesDeviceAndInode) {
  EXPECT_TRUE(journalStreamNames("8:1234", 8, 1234));
  EXPECT_FALSE(journalStreamNames("8:1234", 8, 1235));
  EXPECT_FALSE(journalStreamNames("8:1234x", 8, 1234));
  EXPECT_FALSE(journalStreamNames("", 8, 1234));
  EXPECT_FALSE(journalStreamNames(nullptr, 8, 1234));
  EXPECT_FALSE(journalStreamNames("garbage", 0, 0));
}

TEST(Journal, AuditRecordFields) {
  AuditEntry e;
  e.seq = 42;
  e.actor = "alice";
  e.action = "session.disconnect";
  e.outcome = "ok";
  e.target = "vm1";
  e.port = 22;
  e.source = "10.0.0.9";
  e.user = "alice";
  e.grantId = "g-123";
  e.detail =
      "front=ssh-forward reason=revoked bytes_to_target=1 bytes_from_target=2 duration=1.000s "
      "session=s-0123456789abcdef";
  auto f = journalFields(e);
  EXPECT_EQ(f.front().rfind("MESSAGE=audit: session.disconnect ok by alice target=vm1", 0), 0u)
      << f.front();
  for (const char* want :
       {"JITGATE_GRANT=g-123", "JITGATE_USER=alice", "JITGATE_TARGET=vm1", "JITGATE_PORT=22",
        "JITGATE_SOURCE=10.0.0.9", "JITGATE_ACTION=session.disconnect", "JITGATE_FRONT=ssh-forward",
        "JITGATE_REASON=revoked", "JITGATE_SESSION=s-0123456789abcdef", "JITGATE_SEQ=42",
        "SYSLOG_IDENTIFIER=jitgated", "PRIORITY=6"})
    EXPECT_TRUE(has(f, want)) << want;
  EXPECT_FALSE(has(f, "JITGATE_REQUEST="));
}

TEST(Journal, RefusalReasonStopsAtTheColon) {
  AuditEntry e;
  e.actor = "-";
  e.action = "session.refused";
  e.outcome = "denied";
  e.detail = "front=ssh reason=no_grant: alice holds no grant on vm1";
  auto f = journalFields(e);
  EXPECT_TRUE(has(f, "JITGATE_REASON=no_grant"));
  EXPECT_TRUE(has(f, "PRIORITY=5"));
  EXPECT_FALSE(has(f, "JITGATE_GRANT="));
}

}  // namespace
}  // namespace jitgate
