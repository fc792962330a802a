// NodePresence: registration, heartbeats and the lost-node rule
// (node_presence.hpp, docs/SCALE_OUT.md).
#include "jitgate/node_presence.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "jitgate/timefmt.hpp"

namespace jitgate {

namespace {

using Millis = std::chrono::sys_time<std::chrono::milliseconds>;

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The front a session.connect entry names ("front=ssh session=...").
std::string frontOf(const AuditEntry& connect) {
  const std::string key = "front=";
  if (connect.detail.rfind(key, 0) != 0) return "-";
  auto end = connect.detail.find(' ');
  return connect.detail.substr(key.size(), end == std::string::npos ? end : end - key.size());
}

std::string seconds(std::chrono::milliseconds d) {
  auto ms = d.count();
  return std::to_string(ms / 1000) +
         (ms % 1000 ? "." + std::to_string(ms % 1000 + 1000).substr(1) : std::string()) + "s";
}

}  // namespace

std::chrono::milliseconds heartbeatFor(std::chrono::milliseconds lostAfter) {
  return std::clamp(lostAfter / 3, std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
}

NodePresence::NodePresence(boost::asio::io_context& io, Store& store, const Clock& clock,
                           NodeOptions options)
    : store_(store), clock_(clock), options_(std::move(options)), timer_(io) {}

NodePresence::~NodePresence() { stop(); }

AuditEntry NodePresence::entry(std::string action) const {
  AuditEntry e;
  e.time = std::chrono::floor<std::chrono::milliseconds>(clock_.now());
  e.actor = "jitgated";
  e.action = std::move(action);
  e.outcome = "ok";
  return e;
}

std::vector<AuditEntry> NodePresence::endSessions(const std::vector<AuditEntry>& open,
                                                  const std::string& of,
                                                  const std::string& why) const {
  std::vector<AuditEntry> out;
  for (const auto& c : open) {
    auto e = entry("session.disconnect");
    e.actor = c.user;
    e.target = c.target;
    e.port = c.port;
    e.source = c.source;
    e.user = c.user;
    e.grantId = c.grantId;
    e.node = of;  // the session's node, whoever records its end
    e.session = c.session;
    e.detail = "front=" + frontOf(c) + " reason=node_lost session=" + c.session + " " + why;
    out.push_back(std::move(e));
  }
  return out;
}

Status NodePresence::start() {
  store_.nameNode(options_.name);
  auto now = clock_.now();
  NodeRecord self;
  self.name = options_.name;
  self.addresses = options_.addresses;
  self.version = options_.version;
  self.startedAt = std::chrono::floor<Seconds>(now);
  self.heartbeatAt = std::chrono::floor<std::chrono::milliseconds>(now);
  auto known = store_.nodes();
  if (!known) return known.refusal();
  std::optional<NodeRecord> previous;
  for (const auto& n : *known)
    if (n.name == self.name) previous = n;
  if (previous && previous->state == NodeState::Up &&
      Millis(self.heartbeatAt) - previous->heartbeatAt < options_.lostAfter) {
    // Up and recent: this node's own previous run (a crash, a quick
    // restart), or another jitgated with the same name. A live one
    // heartbeats each period: wait until a period (and a margin) has passed
    // since the last one it wrote.
    spdlog::info("node {}: registered as up {} ago; watching its heartbeat before taking the name",
                 self.name,
                 seconds(std::chrono::duration_cast<std::chrono::milliseconds>(
                     self.heartbeatAt - previous->heartbeatAt)));
    auto quiet = std::chrono::duration_cast<std::chrono::milliseconds>(self.heartbeatAt -
                                                                       previous->heartbeatAt);
    auto until = std::chrono::steady_clock::now() + options_.heartbeat +
                 std::chrono::milliseconds(250) - quiet;
    while (std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto again = store_.nodes();
      if (!again) return again.refusal();
      for (const auto& n : *again)
        if (n.name == self.name && n.heartbeatAt != previous->heartbeatAt)
          return Refusal{RefusalCode::Conflict, "node.name",
                         "another jitgated named " + self.name +
                             " is running (its heartbeat moved): give each node its own "
                             "[node] name"};
    }
  }
  size_t ended = 0;
  auto st = store_.transaction([&]() -> Status {
    // No front runs yet: whatever this name left open belonged to a process
    // that is gone.
    auto open = store_.openSessions(self.name, previous ? previous->startedAt : SysTime{});
    if (!open) return open.refusal();
    for (auto& e : endSessions(*open, self.name, "(the node restarted)")) {
      if (auto r = store_.appendAudit(e); !r) return r.refusal();
    }
    ended = open->size();
    if (auto r = store_.registerNode(self); !r) return r;
    auto e = entry(previous && previous->state == NodeState::Lost ? "node.rejoin" : "node.start");
    e.detail = "node=" + self.name + " version=" + self.version +
               " addresses=" + joined(self.addresses) +
               (ended ? " (" + std::to_string(ended) +
                            " sessions of its previous run recorded as ended: node_lost)"
                      : "");
    auto r = store_.appendAudit(e);
    return r ? okStatus() : Status(r.refusal());
  });
  if (!st) return st;
  spdlog::info("node {}: registered ({}{})", self.name, joined(self.addresses),
               ended ? "; " + std::to_string(ended) + " sessions of its previous run ended" : "");
  running_ = true;
  arm();
  return okStatus();
}

void NodePresence::stop() {
  running_ = false;
  timer_.cancel();
}

void NodePresence::arm() {
  if (!running_) return;
  timer_.expires_after(options_.heartbeat);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !running_) return;
    tick();
    arm();
  });
}

void NodePresence::tick() {
  auto now = std::chrono::floor<std::chrono::milliseconds>(clock_.now());
  auto beat = store_.heartbeatNode(options_.name, now);
  if (!beat) {
    // Nobody's silence counts while this node cannot see the store: the
    // others may be as cut off as this one.
    watched_.clear();
    return;
  }
  if (!*beat) {
    // Another node found this one silent (a long pause, a partition) and
    // recorded its sessions as ended: say so, and be listed again.
    spdlog::error(
        "node {}: another node marked this one lost (silent over lost_after); registering again",
        options_.name);
    NodeRecord self;
    self.name = options_.name;
    self.addresses = options_.addresses;
    self.version = options_.version;
    self.startedAt = std::chrono::floor<Seconds>(now);
    self.heartbeatAt = now;
    auto e = entry("node.rejoin");
    e.outcome = "error";
    e.detail = "node=" + self.name + " was marked lost while running";
    (void)store_.transaction([&]() -> Status {
      if (auto st = store_.registerNode(self); !st) return st;
      auto r = store_.appendAudit(e);
      return r ? okStatus() : Status(r.refusal());
    });
  }
  auto nodes = store_.nodes();
  if (!nodes) {
    watched_.clear();
    return;
  }
  auto steadyNow = std::chrono::steady_clock::now();
  std::map<std::string, Watched> seen;
  for (const auto& n : *nodes) {
    if (n.name == options_.name || n.state != NodeState::Up) continue;
    auto it = watched_.find(n.name);
    if (it == watched_.end() || it->second.heartbeat != n.heartbeatAt) {
      seen[n.name] = Watched{n.heartbeatAt, steadyNow};
      continue;
    }
    if (steadyNow - it->second.since >= options_.lostAfter) {
      markLost(n);
      continue;
    }
    seen[n.name] = it->second;
  }
  watched_ = std::move(seen);
}

void NodePresence::markLost(const NodeRecord& n) {
  auto now = clock_.now();
  bool marked = false;
  size_t ended = 0;
  auto st = store_.transaction([&]() -> Status {
    auto m =
        store_.markNodeLost(n.name, n.heartbeatAt, std::chrono::floor<Seconds>(now), options_.name);
    if (!m) return m.refusal();
    marked = *m;
    if (!marked) return okStatus();  // another node did, or it came back
    auto open = store_.openSessions(n.name, n.startedAt);
    if (!open) return open.refusal();
    std::string why = "(node " + n.name + " silent since " + formatTimestampMs(n.heartbeatAt) +
                      ", recorded by " + options_.name + ")";
    for (auto& e : endSessions(*open, n.name, why)) {
      if (auto r = store_.appendAudit(e); !r) return r.refusal();
    }
    ended = open->size();
    auto e = entry("node.lost");
    e.detail = "node=" + n.name + " silent since " + formatTimestampMs(n.heartbeatAt) +
               " (lost_after " + seconds(options_.lostAfter) + "): " + std::to_string(ended) +
               " open sessions recorded as ended (node_lost)";
    auto r = store_.appendAudit(e);
    return r ? okStatus() : Status(r.refusal());
  });
  if (!st) {
    spdlog::warn("node {}: could not mark {} lost: {}", options_.name, n.name,
                 st.refusal().describe());
    return;
  }
  if (marked)
    spdlog::warn("node {}: marked {} lost (silent since {}); {} open sessions recorded as ended",
                 options_.name, n.name, formatTimestampMs(n.heartbeatAt), ended);
}

}  // namespace jitgate
