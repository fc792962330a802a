// The store's nodes registry, over any SQL backend: each jitgated's row
// (name, listen addresses, version, start, heartbeat, up or lost) and the
// sessions a node left open in the audit log (docs/SCALE_OUT.md).
#include "sql_rows.hpp"
#include "sql_store.hpp"

namespace jitgate::sql {

namespace {

using Millis = std::chrono::sys_time<std::chrono::milliseconds>;

int64_t toMs(Millis t) { return t.time_since_epoch().count(); }

const std::string kNodeSelect =
    "SELECT name,addresses,version,started_at,heartbeat_ms,state,lost_at,lost_by FROM nodes";

Result<NodeRecord> readNode(const SqlRow& s) {
  NodeRecord n;
  std::string addresses, state;
  int64_t heartbeat = 0;
  s.columns(n.name, addresses, n.version, n.startedAt, heartbeat, state, n.lostAt, n.lostBy);
  n.addresses = stringsFromJson(addresses);
  n.heartbeatAt = Millis(std::chrono::milliseconds(heartbeat));
  auto st = parseNodeState(state);
  if (!st) return Refusal{RefusalCode::Unavailable, "", "store: corrupt node state " + n.name};
  n.state = *st;
  return n;
}

}  // namespace

void SqlStore::nameNode(const std::string& name) {
  std::lock_guard lock(mu_);
  node_ = name;
}

Status SqlStore::registerNode(const NodeRecord& n) {
  Query q(
      "INSERT INTO nodes(name,addresses,version,started_at,heartbeat_ms,state,lost_at,lost_by) "
      "VALUES(?,?,?,?,?,'up',NULL,'') ON CONFLICT(name) DO UPDATE SET "
      "addresses=excluded.addresses,version=excluded.version,started_at=excluded.started_at,"
      "heartbeat_ms=excluded.heartbeat_ms,state='up',lost_at=NULL,lost_by=''");
  q.bind(n.name)
      .bind(stringsToJson(n.addresses))
      .bind(n.version)
      .bind(toEpoch(n.startedAt))
      .bind(toMs(n.heartbeatAt));
  return exec(q, "register node");
}

Result<bool> SqlStore::heartbeatNode(const std::string& name, Millis at) {
  Query q("UPDATE nodes SET heartbeat_ms=? WHERE name=? AND state='up'");
  std::lock_guard lock(mu_);
  auto n = backend_->run(q.bind(toMs(at)).bind(name), "node heartbeat");
  if (!n) return n.refusal();
  return *n == 1;
}

Result<std::vector<NodeRecord>> SqlStore::nodes() {
  return list<NodeRecord>(Query(kNodeSelect + " ORDER BY name"), "list nodes", readNode);
}

Result<bool> SqlStore::markNodeLost(const std::string& name, Millis seen, SysTime at,
                                    const std::string& by) {
  Query q(
      "UPDATE nodes SET state='lost',lost_at=?,lost_by=? "
      "WHERE name=? AND state='up' AND heartbeat_ms=?");
  bool marked = false;
  auto st = transaction([&]() -> Status {
    std::lock_guard lock(mu_);
    auto n =
        backend_->run(q.bind(toEpoch(at)).bind(by).bind(name).bind(toMs(seen)), "mark node lost");
    if (!n) return n.refusal();
    marked = *n == 1;
    return okStatus();
  });
  if (!st) return st.refusal();
  return marked;
}

Result<std::vector<AuditEntry>> SqlStore::openSessions(const std::string& node, SysTime since) {
  Query q(kAuditSelect +
          " c WHERE c.node=? AND c.action='session.connect' AND c.time_ms>=? AND "
          "c.session<>'' AND NOT EXISTS (SELECT 1 FROM audit d WHERE d.node=c.node AND "
          "d.session=c.session AND d.action='session.disconnect') ORDER BY c.seq");
  return list<AuditEntry>(q.bind(node).bind(toEpoch(since) * 1000), "read open sessions",
                          readAudit);
}

}  // namespace jitgate::sql
