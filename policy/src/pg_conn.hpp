// libpq under the PostgreSQL store: owned handles, one connection opened with
// jitgate's settings, statements with `?` parameters, and the schema
// migrations. Internal to the policy component (pg_store.cpp).
#pragma once

#include <libpq-fe.h>

#include <string>
#include <vector>

#include "jitgate/handle.hpp"
#include "jitgate/result.hpp"
#include "sql_backend.hpp"

namespace jitgate::pg {

using PgConnPtr = CHandle<PGconn, PQfinish>;
using PgResultPtr = CHandle<PGresult, PQclear>;

// The channel other nodes are told on when changes commit.
inline constexpr const char* kChangesChannel = "jitgate_changes";
// Advisory lock keys: one writer at a time, one migrator at a time.
inline constexpr int64_t kWriterLock = 0x6a6974676174651;  // "jitgate" + 1
inline constexpr int64_t kMigrationLock = 0x6a6974676174652;

// Opens a connection to `url` (URI or key=value; PG* variables fill the rest)
// with synchronous commits, a statement timeout and TCP keepalives. A server
// that cannot be reached is StoreUnavailable; the message names the server
// (redacted) and libpq's reason.
Result<PgConnPtr> connect(const std::string& url);

// `sql` with its `?` placeholders numbered $1, $2, ... (none of our
// statements has a `?` inside a literal).
std::string numberPlaceholders(const std::string& sql);

// Runs one statement with text parameters and text results.
PgResultPtr execParams(PGconn* c, const std::string& sql, const std::vector<sql::Value>& params);

// A refusal for a failed statement: StoreUnavailable when the connection is
// gone, AlreadyExists for a constraint violation, Unavailable otherwise.
Refusal failure(PGconn* c, const PGresult* r, const std::string& what);
bool succeeded(const PGresult* r);

// Runs the versioned schema migrations, holding kMigrationLock so that one
// node at a time migrates; refuses a schema newer than this build knows.
Status migrate(PGconn* c);
// The same inside the caller's transaction, taking no lock of its own (the
// caller holds kMigrationLock): for copying a state directory across.
Status migrateInTransaction(PGconn* c);
int latestSchemaVersion();

}  // namespace jitgate::pg
