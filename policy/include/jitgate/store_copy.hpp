// Moving one node's SQLite state to an empty PostgreSQL database
// (`jitgated --copy-store-to URL`, docs/STORE.md): every row of every table,
// in one PostgreSQL transaction, verified before it commits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "jitgate/result.hpp"

namespace jitgate {

// How many rows of one kind were copied (kind = the table's name).
struct StoreCopyCount {
  std::string kind;
  int64_t rows = 0;
};

struct StoreCopyReport {
  std::string from;       // the SQLite file
  std::string to;         // the server, its password as ***
  int schemaVersion = 0;  // PostgreSQL's, after the copy
  std::vector<StoreCopyCount> counts;
  int64_t auditFirstSeq = 0;  // 0 when the audit is empty
  int64_t auditLastSeq = 0;
  std::string actor;  // who ran it, as audited (store.copy)
};

// Copies `<stateDir>/jitgate.db` into the database `url` names. Holds the
// state directory's lock (refused while a jitgated holds it) and refuses a
// database holding any table but jitgate's, or any jitgate row. Creates the
// schema, copies every table keeping keys and sequences (audit.seq,
// ca_keys.id), compares each table's rows read back with the file's, audits
// `store.copy`, and only then commits: all or nothing.
Result<StoreCopyReport> copyStateDirToPostgres(const std::string& stateDir, const std::string& url);

// The report as printed by jitgated: one line per kind, then the totals.
std::string describeStoreCopy(const StoreCopyReport& r);

}  // namespace jitgate
