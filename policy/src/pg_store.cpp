// The PostgreSQL store: the SQL store over libpq, one writer at a time
// (an advisory lock), changes announced by NOTIFY, and a watcher thread that
// listens, tells whether the server answers, and reconnects with backoff.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>

#include <atomic>
#include <charconv>
#include <future>
#include <thread>

#include "pg_conn.hpp"
#include "sql_store.hpp"

namespace jitgate {
namespace {

using namespace sql;
using pg::PgConnPtr;
using pg::PgResultPtr;
using Steady = std::chrono::steady_clock;

constexpr auto kFirstRetry = std::chrono::milliseconds(100);
constexpr auto kLastRetry = std::chrono::milliseconds(5000);
constexpr auto kPingEvery = std::chrono::milliseconds(1000);

// Reachability as the last call and the watcher saw it (both threads write).
class Health {
 public:
  explicit Health(std::string where) : where_(std::move(where)) {}
  void up() {
    std::lock_guard lock(mu_);
    if (since_) spdlog::info("store: PostgreSQL {} is reachable again", where_);
    since_.reset();
    detail_.clear();
  }
  void down(const std::string& why) {
    std::lock_guard lock(mu_);
    if (!since_) {
      since_ = std::chrono::floor<Seconds>(std::chrono::system_clock::now());
      spdlog::warn("store: {}", why);
    }
    detail_ = why;
  }
  bool reachable() const {
    std::lock_guard lock(mu_);
    return !since_;
  }
  StoreHealth snapshot() const {
    std::lock_guard lock(mu_);
    return StoreHealth{"postgresql", !since_, where_, detail_, since_};
  }

 private:
  mutable std::mutex mu_;
  std::string where_;
  std::string detail_;
  std::optional<SysTime> since_;
};

class PgRow final : public SqlRow {
 public:
  PgRow(const PGresult* r, int row) : r_(r), row_(row) {}
  bool isNull(int col) const override { return PQgetisnull(r_, row_, col) != 0; }
  int64_t i64(int col) const override {
    const char* v = PQgetvalue(r_, row_, col);
    int64_t out = 0;
    std::from_chars(v, v + PQgetlength(r_, row_, col), out);
    return out;
  }
  std::string text(int col) const override {
    return std::string(PQgetvalue(r_, row_, col), PQgetlength(r_, row_, col));
  }

 private:
  const PGresult* r_;
  int row_;
};

class PgBackend final : public SqlBackend {
 public:
  PgBackend(std::string url, PgConnPtr conn, std::shared_ptr<Health> health)
      : url_(std::move(url)), conn_(std::move(conn)), health_(std::move(health)) {}

  Result<int64_t> run(const Query& q, const std::string& what, const RowFn& onRow) override {
    if (auto st = ready(what); !st) return st.refusal();
    PgResultPtr r = pg::execParams(conn_.get(), q.sql, q.params);
    if (!pg::succeeded(r.get())) return fail(r.get(), what);
    if (onRow) {
      for (int i = 0, n = PQntuples(r.get()); i < n; ++i)
        if (auto st = onRow(PgRow(r.get(), i)); !st) return st.refusal();
    }
    const char* changed = PQcmdTuples(r.get());
    return static_cast<int64_t>(changed && *changed ? std::atoll(changed) : 0);
  }

  Status begin() override {
    if (auto st = ready("begin"); !st) return st;
    // The writer lock makes commits follow the change sequence: a node that
    // has applied seq N has seen every change below it.
    auto st = exec("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(pg::kWriterLock) + ")",
                   "begin");
    inTransaction_ = st.ok();
    changes_.clear();
    return st;
  }
  // The transaction's change rows, its notification and the COMMIT go in
  // one round trip: a write transaction is then BEGIN, its statements and
  // this (each round trip is a wait on the server, docs/BENCHMARKS.md).
  Status commit() override {
    std::string sql;
    if (!changes_.empty()) {
      sql = "INSERT INTO changes(kind,key,at_ms) VALUES " + changes_ + "; NOTIFY " +
            pg::kChangesChannel + "; ";
    }
    sql += "COMMIT";
    auto st = exec(sql, changes_.empty() ? "commit" : "record changes and commit");
    changes_.clear();
    inTransaction_ = false;
    return st;
  }
  void rollback() override {
    inTransaction_ = false;
    changes_.clear();
    if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) (void)exec("ROLLBACK", "rollback");
  }
  // Kept until the commit: the rows take their sequence numbers there, still
  // under the writer lock, in the order the changes were made.
  Status changed(std::string_view kind, const std::string& key) override {
    if (auto st = ready("record change"); !st) return st;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    std::string row = "(";
    for (const std::string& text : {std::string(kind), key}) {
      char* quoted = PQescapeLiteral(conn_.get(), text.data(), text.size());
      if (!quoted) return fail(nullptr, "record change");
      row += quoted;
      row += ',';
      PQfreemem(quoted);
    }
    row += std::to_string(ms) + ")";
    changes_ += (changes_.empty() ? "" : ",") + row;
    return okStatus();
  }

  // The watcher saw the server answer: the next call reconnects at once.
  void serverBack() { retryAt_.store(Steady::time_point{}); }

 private:
  // A live connection, or a reconnection when the backoff allows one. Never
  // inside a transaction: its work died with the old connection.
  Status ready(const std::string& what) {
    if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) return okStatus();
    if (inTransaction_)
      return Refusal{RefusalCode::StoreUnavailable, "store",
                     "store_unavailable: " + what + ": the PostgreSQL connection was lost"};
    auto now = Steady::now();
    if (now < retryAt_.load()) {
      auto h = health_->snapshot();
      return Refusal{RefusalCode::StoreUnavailable, "store",
                     h.detail.empty()
                         ? "store_unavailable: PostgreSQL " + h.where + " cannot be reached"
                         : h.detail};
    }
    auto c = pg::connect(url_);
    if (!c) {
      backoff_ = std::min(backoff_ == std::chrono::milliseconds(0) ? kFirstRetry : backoff_ * 2,
                          kLastRetry);
      retryAt_.store(now + backoff_);
      health_->down(c.refusal().message);
      return c.refusal();
    }
    conn_ = std::move(*c);
    backoff_ = std::chrono::milliseconds(0);
    health_->up();
    return okStatus();
  }

  Refusal fail(const PGresult* r, const std::string& what) {
    auto refusal = pg::failure(conn_.get(), r, what);
    if (refusal.code == RefusalCode::StoreUnavailable) {
      health_->down(refusal.message);
      if (PQstatus(conn_.get()) == CONNECTION_BAD) retryAt_.store(Steady::now());
    }
    return refusal;
  }

  Status exec(const std::string& sql, const std::string& what) {
    PgResultPtr r(PQexec(conn_.get(), sql.c_str()));
    if (!pg::succeeded(r.get())) return fail(r.get(), what);
    return okStatus();
  }

  std::string url_;
  PgConnPtr conn_;
  std::shared_ptr<Health> health_;
  bool inTransaction_ = false;
  std::string changes_;  // the transaction's change rows, as SQL values
  std::chrono::milliseconds backoff_{0};
  std::atomic<Steady::time_point> retryAt_{Steady::time_point{}};
};

class PgStore final : public SqlStore {
 public:
  PgStore(std::string url, PgConnPtr conn)
      : SqlStore(nullptr),
        url_(std::move(url)),
        health_(std::make_shared<Health>(redactPostgresUrl(url_))),
        stopFd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    auto backend = std::make_unique<PgBackend>(url_, std::move(conn), health_);
    pg_ = backend.get();
    backend_ = std::move(backend);
    auto listening = firstAttempt_.get_future();
    watcher_ = std::thread([this] { watchLoop(); });
    // Opened means watched: a change committed after this returns wakes us.
    listening.wait_for(std::chrono::seconds(5));
  }
  ~PgStore() override {
    stop_ = true;
    uint64_t one = 1;
    (void)!::write(stopFd_.get(), &one, sizeof one);
    watcher_.join();
  }

  Result<std::vector<StoreChange>> changesSince(int64_t seq, size_t limit) override {
    Query q("SELECT seq,kind,key FROM changes WHERE seq>? ORDER BY seq LIMIT " +
            std::to_string(limit));
    return list<StoreChange>(q.bind(seq), "read changes", [](const SqlRow& r) {
      StoreChange c;
      r.columns(c.seq, c.kind, c.key);
      return c;
    });
  }
  Result<int64_t> lastChange() override {
    return scalar(Query("SELECT COALESCE(MAX(seq),0) FROM changes"), "read changes");
  }
  void watch(std::function<void()> wake) override {
    std::lock_guard lock(wakeMu_);
    wake_ = std::move(wake);
  }
  StoreHealth health() const override { return health_->snapshot(); }

 private:
  void wake() {
    std::lock_guard lock(wakeMu_);
    if (wake_) wake_();
  }

  // Waits up to `d` or until the store stops; true when stopping.
  bool pause(std::chrono::milliseconds d) {
    pollfd p{stopFd_.get(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(d.count()));
    return stop_;
  }

  // The watcher: a connection of its own that LISTENs. It tells the store's
  // callers when others committed (wake), whether the server answers (a
  // ping each second while quiet) and, when it comes back, that they may
  // reconnect and must catch up.
  void watchLoop() {
    bool attempted = false;
    auto tried = [&] {
      if (!attempted) firstAttempt_.set_value();
      attempted = true;
    };
    std::chrono::milliseconds backoff = kFirstRetry;
    PgConnPtr listen;
    auto lastPing = Steady::now();
    while (!stop_) {
      if (!listen || PQstatus(listen.get()) != CONNECTION_OK) {
        listen.reset();
        auto c = pg::connect(url_);
        PgResultPtr r;
        if (c) r.reset(PQexec(c->get(), (std::string("LISTEN ") + pg::kChangesChannel).c_str()));
        if (!c || !pg::succeeded(r.get())) {
          health_->down(c ? pg::failure(c->get(), r.get(), "listen").message : c.refusal().message);
          tried();
          if (pause(backoff)) return;
          backoff = std::min(backoff * 2, kLastRetry);
          continue;
        }
        listen = std::move(*c);
        backoff = kFirstRetry;
        bool wasDown = !health_->reachable();
        pg_->serverBack();
        health_->up();
        // Whatever was committed while we were not listening.
        if (wasDown) wake();
        tried();
        lastPing = Steady::now();
      }
      pollfd fds[2] = {{stopFd_.get(), POLLIN, 0}, {PQsocket(listen.get()), POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(kPingEvery.count()));
      if (stop_) return;
      if (n > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (!PQconsumeInput(listen.get())) {
          health_->down("store_unavailable: PostgreSQL " + health_->snapshot().where +
                        ": the connection was lost");
          listen.reset();
          continue;
        }
        bool any = false;
        while (PGnotify* note = PQnotifies(listen.get())) {
          any = true;
          PQfreemem(note);
        }
        if (any) wake();
      }
      if (Steady::now() - lastPing >= kPingEvery) {
        lastPing = Steady::now();
        PgResultPtr r(PQexec(listen.get(), "SELECT 1"));
        if (!pg::succeeded(r.get())) {
          health_->down(pg::failure(listen.get(), r.get(), "ping").message);
          listen.reset();
          continue;
        }
        // Notifications that arrived with the answer.
        bool any = false;
        while (PGnotify* note = PQnotifies(listen.get())) {
          any = true;
          PQfreemem(note);
        }
        if (any) wake();
      }
    }
  }

  std::string url_;
  std::shared_ptr<Health> health_;
  PgBackend* pg_ = nullptr;  // owned by backend_
  UniqueFd stopFd_;
  std::atomic<bool> stop_{false};
  std::mutex wakeMu_;
  std::function<void()> wake_;
  std::promise<void> firstAttempt_;  // set by the watcher once it tried to listen
  std::thread watcher_;
};

}  // namespace

Result<std::unique_ptr<Store>> openPostgresStore(const std::string& url) {
  if (auto st = checkPostgresUrl(url, "store.url"); !st) return st.refusal();
  auto c = pg::connect(url);
  if (!c) return c.refusal();
  if (auto st = pg::migrate(c->get()); !st) return st.refusal();
  spdlog::info("store: PostgreSQL {} (schema version {})", redactPostgresUrl(url),
               pg::latestSchemaVersion());
  return std::unique_ptr<Store>(std::make_unique<PgStore>(url, std::move(*c)));
}

}  // namespace jitgate
