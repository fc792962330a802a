// The metric families and how audit records, window ends, decisions and
// commits move them.
#include "jitgate/service/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include "jitgate/service/metrics_http.hpp"

namespace jitgate {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

struct FrontLabels {
  const char* front;
  const char* mode;
};

// The fronts' names in audit records ("front=ssh-forward").
std::optional<FrontLabels> frontLabels(std::string_view name) {
  if (name == "ssh") return FrontLabels{"ssh", "terminating"};
  if (name == "ssh-forward") return FrontLabels{"ssh", "forwarding"};
  if (name == "winrm-http") return FrontLabels{"winrm", "http"};
  if (name == "winrm-https") return FrontLabels{"winrm", "https"};
  return std::nullopt;
}

// The value of "key=value" in an audit detail, up to a space or a colon.
std::string word(const std::string& detail, const std::string& key) {
  std::string needle = key + "=";
  size_t at = 0;
  while ((at = detail.find(needle, at)) != std::string::npos) {
    if (at == 0 || detail[at - 1] == ' ') break;
    at += needle.size();
  }
  if (at == std::string::npos) return {};
  auto from = at + needle.size();
  auto end = detail.find_first_of(" :", from);
  return detail.substr(from, end == std::string::npos ? std::string::npos : end - from);
}

uint64_t number(const std::string& s) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return std::stoull(s);
}

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

struct Metrics::Impl {
  boost::asio::io_context& io;
  GrantEngine& engine;
  ObservedStore& store;
  int listener = 0;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<MetricsHttp> http;

  Family<Gauge>& buildInfo = prometheus::BuildGauge()
                                 .Name("jitgate_build_info")
                                 .Help("Always 1; the version is a label.")
                                 .Register(*registry);
  Gauge& grantsActive = prometheus::BuildGauge()
                            .Name("jitgate_grants_active")
                            .Help("Grants whose window is open now.")
                            .Register(*registry)
                            .Add({});
  Gauge& requestsPending = prometheus::BuildGauge()
                               .Name("jitgate_requests_pending")
                               .Help("Access requests waiting for an approver.")
                               .Register(*registry)
                               .Add({});
  Gauge& storeUp = prometheus::BuildGauge()
                       .Name("jitgate_store_up")
                       .Help("1 when the store answered the last call, 0 when it was unreachable.")
                       .Register(*registry)
                       .Add({});
  Family<Gauge>& sessions = prometheus::BuildGauge()
                                .Name("jitgate_sessions")
                                .Help("Live sessions through the bastion, by front and mode.")
                                .Register(*registry);
  Family<Counter>& accepted = prometheus::BuildCounter()
                                  .Name("jitgate_connections_accepted_total")
                                  .Help("Sessions let through, by front and mode.")
                                  .Register(*registry);
  Family<Counter>& refused = prometheus::BuildCounter()
                                 .Name("jitgate_connections_refused_total")
                                 .Help("Connections and channels refused, by front and reason.")
                                 .Register(*registry);
  Family<Counter>& ended = prometheus::BuildCounter()
                               .Name("jitgate_sessions_ended_total")
                               .Help("Sessions that ended, by front, mode and reason.")
                               .Register(*registry);
  Family<Counter>& cutoffs = prometheus::BuildCounter()
                                 .Name("jitgate_cutoffs_total")
                                 .Help("Sessions cut because their window ended, by reason.")
                                 .Register(*registry);
  Histogram& cutoffLag =
      prometheus::BuildHistogram()
          .Name("jitgate_cutoff_lag_seconds")
          .Help("From a window's end (or its revoke) to the session's disconnect record.")
          .Register(*registry)
          .Add({}, Histogram::BucketBoundaries{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  Family<Counter>& relayed = prometheus::BuildCounter()
                                 .Name("jitgate_relayed_bytes_total")
                                 .Help(
                                     "Bytes relayed by sessions that ended, by front, mode "
                                     "and direction.")
                                 .Register(*registry);
  Family<Histogram>& decisions =
      prometheus::BuildHistogram()
          .Name("jitgate_decision_duration_seconds")
          .Help("Time the grant engine took to decide whether a connection may pass, by outcome.")
          .Register(*registry);
  const Histogram::BucketBoundaries decisionBuckets{1e-6, 2.5e-6, 5e-6,   1e-5, 2.5e-5,
                                                    5e-5, 1e-4,   2.5e-4, 1e-3, 1e-2};
  Histogram& allowedDecision = decisions.Add({{"outcome", "allow"}}, decisionBuckets);
  Histogram& deniedDecision = decisions.Add({{"outcome", "deny"}}, decisionBuckets);
  Histogram& commit =
      prometheus::BuildHistogram()
          .Name("jitgate_store_commit_duration_seconds")
          .Help("Time of each durable store write (a transaction or a write on its own).")
          .Register(*registry)
          .Add({}, Histogram::BucketBoundaries{1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025,
                                               0.05, 0.1, 0.25, 1});
  Family<Counter>& certificates = prometheus::BuildCounter()
                                      .Name("jitgate_certificates_issued_total")
                                      .Help("Certificates issued, by kind (ssh, x509).")
                                      .Register(*registry);

  // When each recently ended grant's window ended (io thread only).
  std::unordered_map<std::string, SysTime> endedAt;
  // Refusal reasons seen: bounded, though the fronts' list is short already.
  std::set<std::string> reasons;
  std::atomic<bool> reachable{true};

  Impl(boost::asio::io_context& i, GrantEngine& e, ObservedStore& s) : io(i), engine(e), store(s) {
    buildInfo.Add({{"version", JITGATE_VERSION}}).Set(1);
    storeUp.Set(1);
    listener = engine.subscribe([this](const GrantEnded& ev) { grantEnded(ev); });
  }

  std::string reasonLabel(const std::string& r) {
    bool shaped = !r.empty() && r.size() <= 48 &&
                  r.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
    if (!shaped) return "other";
    if (reasons.count(r) || reasons.size() < 64) {
      reasons.insert(r);
      return r;
    }
    return "other";
  }

  void grantEnded(const GrantEnded& ev) {
    auto at =
        ev.why == WindowEnd::Expired ? ev.grant.end : ev.grant.revokedAt.value_or(engine.now());
    if (endedAt.size() > 4096) {
      auto horizon = engine.now() - std::chrono::minutes(10);
      std::erase_if(endedAt, [&](const auto& kv) { return kv.second < horizon; });
    }
    endedAt[ev.grant.id] = at;
  }

  void audited(const AuditEntry& e) {
    auto front = frontLabels(word(e.detail, "front"));
    if (!front) return;
    if (e.action == "session.connect") {
      accepted.Add({{"front", front->front}, {"mode", front->mode}}).Increment();
      sessions.Add({{"front", front->front}, {"mode", front->mode}}).Increment();
    } else if (e.action == "session.disconnect") {
      auto reason = reasonLabel(word(e.detail, "reason"));
      sessions.Add({{"front", front->front}, {"mode", front->mode}}).Decrement();
      ended.Add({{"front", front->front}, {"mode", front->mode}, {"reason", reason}}).Increment();
      for (auto [key, dir] : {std::pair{"bytes_to_target", "to_target"},
                              std::pair{"bytes_from_target", "from_target"}})
        relayed.Add({{"front", front->front}, {"mode", front->mode}, {"direction", dir}})
            .Increment(static_cast<double>(number(word(e.detail, key))));
      if (reason == "expired" || reason == "revoked") {
        cutoffs.Add({{"reason", reason}}).Increment();
        auto it = endedAt.find(e.grantId);
        if (it != endedAt.end()) cutoffLag.Observe(std::max(0.0, seconds(e.time - it->second)));
      }
    } else if (e.action == "session.refused") {
      refused.Add({{"front", front->front}, {"reason", reasonLabel(word(e.detail, "reason"))}})
          .Increment();
      // A flood's refusals are recorded in summary: "(and N earlier ...)".
      auto at = e.detail.rfind("(and ");
      if (at != std::string::npos && e.detail.find(" earlier ", at) != std::string::npos) {
        auto n = number(e.detail.substr(at + 5, e.detail.find(' ', at + 5) - at - 5));
        if (n > 0)
          refused.Add({{"front", front->front}, {"reason", "unrecorded"}})
              .Increment(static_cast<double>(n));
      }
    }
  }

  // Gauges read from the engine; on the io thread.
  void refresh() {
    grantsActive.Set(static_cast<double>(engine.activeGrantCount()));
    auto rs = engine.requests();
    if (rs) {
      size_t pending = 0;
      for (const auto& r : *rs) pending += r.state == RequestState::Pending;
      requestsPending.Set(static_cast<double>(pending));
    }
    storeUp.Set(reachable ? 1 : 0);
  }
};

Metrics::Metrics(boost::asio::io_context& io, GrantEngine& engine, ObservedStore& store)
    : impl_(std::make_unique<Impl>(io, engine, store)) {
  store.observe(this);
  engine.observeDecisions(
      [this](const Decision& d, std::chrono::nanoseconds took) { decided(d.allowed, took); });
}

Metrics::~Metrics() {
  stopServing();
  impl_->engine.observeDecisions(nullptr);
  impl_->engine.unsubscribe(impl_->listener);
  impl_->store.unobserve(this);
}

Status Metrics::serve(const ListenAddress& listen) {
  auto http = std::make_unique<MetricsHttp>(impl_->io, [this] { return text(); });
  if (auto st = http->listen(listen); !st) return st;
  impl_->http = std::move(http);
  return okStatus();
}

void Metrics::stopServing() {
  if (impl_->http) impl_->http->stop();
  impl_->http.reset();
}

std::string Metrics::boundAddress() const {
  return impl_->http ? impl_->http->boundAddress() : "off";
}

std::string Metrics::text() const {
  impl_->refresh();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->registry->Collect());
  return out.str();
}

void Metrics::committed(const Commit& c) {
  for (const auto& e : c.audit) impl_->audited(e);
  for (const auto& cert : c.certificates)
    impl_->certificates.Add({{"kind", cert.kind == "x509" ? "x509" : "ssh"}}).Increment();
  impl_->commit.Observe(seconds(c.took));
}

void Metrics::storeAnswered(bool reachable) { impl_->reachable = reachable; }

void Metrics::decided(bool allowed, std::chrono::nanoseconds took) {
  (allowed ? impl_->allowedDecision : impl_->deniedDecision).Observe(seconds(took));
}

}  // namespace jitgate
