// Logging to systemd's journal when the service manager connected stderr to
// it (JOURNAL_STREAM): log lines keep their priority, and every committed
// audit record becomes a journal entry with its fields (JITGATE_GRANT,
// JITGATE_USER, JITGATE_TARGET, ...) so that `journalctl JITGATE_GRANT=g-...`
// finds everything about one grant.
#pragma once

#include <sys/types.h>

#include <string>

#include "jitgate/model.hpp"
#include "jitgate/service/observed_store.hpp"

namespace jitgate {

// True when JOURNAL_STREAM ("DEV:INODE") names the file on stderr.
bool stderrIsJournal();
// JOURNAL_STREAM's test on its own: does "DEV:INODE" name (dev, ino)?
bool journalStreamNames(const char* value, dev_t dev, ino_t ino);

// Replaces the default logger's sinks with the journal's.
void logToJournal();

// The journal fields of one audit record, "KEY=value" each, empty fields left
// out; MESSAGE first. Values are the record's (already printable) text.
std::vector<std::string> journalFields(const AuditEntry& e);
// Sends journalFields(e); returns 0 or a negative errno.
int journalAudit(const AuditEntry& e);

// Sends every committed audit record to the journal.
class JournalAudit final : public StoreObserver {
 public:
  explicit JournalAudit(ObservedStore& store) : store_(store) { store_.observe(this); }
  ~JournalAudit() override { store_.unobserve(this); }
  JournalAudit(const JournalAudit&) = delete;
  JournalAudit& operator=(const JournalAudit&) = delete;
  void committed(const Commit& c) override;
  void storeAnswered(bool) override {}

 private:
  ObservedStore& store_;
};

}  // namespace jitgate
