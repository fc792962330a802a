// jitgated: wires the store, the grant engine and the control socket
// together on one event loop. All logic lives in the libraries.
#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>

#include "jitgate/authority.hpp"
#include "jitgate/clock.hpp"
#include "jitgate/control_server.hpp"
#include "jitgate/engine.hpp"
#include "jitgate/follower.hpp"
#include "jitgate/node_presence.hpp"
#include "jitgate/proxy/config.hpp"
#include "jitgate/proxy/session_registry.hpp"
#include "jitgate/proxy/ssh_front.hpp"
#include "jitgate/proxy/winrm_front.hpp"
#include "jitgate/service/effective_config.hpp"
#include "jitgate/service/journal.hpp"
#include "jitgate/service/metrics.hpp"
#include "jitgate/service/observed_store.hpp"
#include "jitgate/service/reload.hpp"
#include "jitgate/service/service_manager.hpp"
#include "jitgate/store.hpp"
#include "jitgate/store_copy.hpp"

namespace {

using namespace jitgate;

// Creates `dir` (only its last component) with `mode` if missing, and checks
// that it is a real directory owned by us or root.
Status ensureDir(const std::string& dir, mode_t mode, const char* what) {
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
    return invalid(what, dir + ": " + std::strerror(errno));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return invalid(what, dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return invalid(what, dir + " is not a directory");
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    return invalid(what, dir + " is owned by another user");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
    return invalid(what, dir + " is writable by others: its files could be replaced");
  return okStatus();
}

// [node] name's default: the host name, when it is a valid name.
std::string hostNodeName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && validateName(host, "node.name")) return host;
  return "jitgated";
}

int run(int argc, char** argv) {
  CLI::App app{"jitgated: the jitgate daemon (grant engine, CA, audit, control socket)"};
  std::string configPath, checkConfigPath, stateDir, controlSocket, logLevel, sshListen,
      winrmHttpListen, winrmHttpsListen, metricsListen, storeUrl, nodeName, copyStoreTo;
  app.add_option("--config", configPath, "TOML configuration file")->check(CLI::ExistingFile);
  app.add_option("--check-config", checkConfigPath,
                 "validate FILE, print the effective settings (with the other flags) and exit");
  app.add_option("--state-dir", stateDir, "directory for the store (overrides the config)");
  app.add_option("--control-socket", controlSocket, "control socket path (overrides the config)");
  app.add_option("--log-level", logLevel, "trace, debug, info, warn or error");
  app.add_option("--ssh-listen", sshListen, "SSH front: ADDR:PORT, [V6]:PORT or off (port 0: any)");
  app.add_option("--winrm-http-listen", winrmHttpListen, "WinRM HTTP front: ADDR:PORT or off");
  app.add_option("--winrm-https-listen", winrmHttpsListen, "WinRM HTTPS front: ADDR:PORT or off");
  app.add_option("--metrics-listen", metricsListen, "Prometheus endpoint: ADDR:PORT or off");
  app.add_option("--store", storeUrl,
                 "PostgreSQL store: a postgresql:// URI or libpq connection string "
                 "(default: SQLite in the state directory)");
  app.add_option("--node-name", nodeName,
                 "this node's name among those sharing the store (default: [node] name, else "
                 "the host name)");
  app.add_option("--copy-store-to", copyStoreTo,
                 "copy the state directory's SQLite store into the empty PostgreSQL database "
                 "URL, print what was copied and exit (docs/STORE.md); jitgated must be stopped");
  app.set_version_flag("--version", std::string("jitgated ") + JITGATE_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // Each bastion session holds a few descriptors (client, its watch, the
  // hop or the forwarded socket): take what the hard limit allows.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }

  // The file, then the flags on top: at start, for --check-config and on
  // every reload.
  auto readConfig = [&](const std::string& path) -> Result<DaemonConfig> {
    DaemonConfig c;
    if (!path.empty()) {
      auto loaded = loadConfig(path);
      if (!loaded) {
        const auto& r = loaded.refusal();
        return Refusal{r.code, "config " + path, r.field == path ? r.message : r.describe()};
      }
      c = *loaded;
    }
    if (!stateDir.empty()) c.stateDir = stateDir;
    if (!controlSocket.empty()) c.controlSocket = controlSocket;
    if (!logLevel.empty()) c.logLevel = logLevel;
    if (!storeUrl.empty()) {
      if (auto st = checkPostgresUrl(storeUrl, "--store"); !st) return st.refusal();
      c.store.url = storeUrl;
    }
    if (!nodeName.empty()) {
      if (auto st = validateName(nodeName, "--node-name"); !st) return st.refusal();
      c.node.name = nodeName;
    }
    if (c.node.name.empty()) c.node.name = hostNodeName();
    struct {
      const std::string& flag;
      const char* name;
      std::optional<ListenAddress>& into;
    } listens[] = {{sshListen, "--ssh-listen", c.ssh.listen},
                   {winrmHttpListen, "--winrm-http-listen", c.winrm.httpListen},
                   {winrmHttpsListen, "--winrm-https-listen", c.winrm.httpsListen},
                   {metricsListen, "--metrics-listen", c.metrics.listen}};
    for (auto& l : listens) {
      if (l.flag.empty()) continue;
      auto parsed = parseListenAddress(l.flag, l.name);
      if (!parsed) return parsed.refusal();
      l.into = *parsed;
    }
    auto level = spdlog::level::from_str(c.logLevel);
    if (level == spdlog::level::off && c.logLevel != "off")
      return invalid("--log-level", "'" + c.logLevel + "' is not a level");
    if (auto st = checkDaemonConfig(c); !st) return st.refusal();
    return c;
  };
  if (!checkConfigPath.empty()) {
    auto checked = readConfig(checkConfigPath);
    if (!checked) {
      spdlog::error("{}", checked.refusal().describe());
      return 1;
    }
    std::printf("# %s: valid; the effective settings:\n%s", checkConfigPath.c_str(),
                effectiveConfigToml(*checked).c_str());
    return 0;
  }
  // Moving a node to PostgreSQL: the state directory of the configuration
  // (or --state-dir), while no jitgated runs on it.
  if (!copyStoreTo.empty()) {
    // A command, not the daemon: its refusal is one line on stderr.
    auto refuse = [](const std::string& why) {
      std::fprintf(stderr, "jitgated: %s\n", why.c_str());
      return 1;
    };
    auto c = readConfig(configPath);
    if (!c) return refuse(c.refusal().describe());
    if (!c->store.url.empty())
      return refuse(
          "this configuration already uses PostgreSQL ([store] url or --store); the copy reads "
          "the SQLite store of the state directory: run it with the configuration that still "
          "uses SQLite, then set [store] url");
    auto copied = copyStateDirToPostgres(c->stateDir, copyStoreTo);
    if (!copied) return refuse(copied.refusal().describe());
    std::fputs(describeStoreCopy(*copied).c_str(), stdout);
    return 0;
  }
  if (stderrIsJournal()) logToJournal();
  auto readStart = readConfig(configPath);
  if (!readStart) {
    spdlog::error("{}", readStart.refusal().describe());
    return 1;
  }
  DaemonConfig config = *readStart;
  auto level = spdlog::level::from_str(config.logLevel);
  spdlog::set_level(level);

  if (auto st = ensureDir(config.stateDir, 0700, "state_dir"); !st) {
    spdlog::error("{} (use --state-dir DIR)", st.refusal().describe());
    return 1;
  }
  // One daemon per state directory: two would each keep their own view of
  // the active grants, and a revoke through one would not reach the other.
  std::string lockPath = config.stateDir + "/jitgated.lock";
  int lockFd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lockFd < 0 || ::flock(lockFd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::error("state_dir {}: {}", config.stateDir,
                  lockFd < 0 ? std::strerror(errno) : "another jitgated is using it");
    return 1;
  }
  std::string socketDir = config.controlSocket.substr(0, config.controlSocket.rfind('/'));
  if (!socketDir.empty()) {
    if (auto st = ensureDir(socketDir, 0755, "control_socket"); !st) {
      spdlog::error("{} (use --control-socket PATH)", st.refusal().describe());
      return 1;
    }
  }

  ControlSocketOptions sockOpts;
  sockOpts.path = config.controlSocket;
  sockOpts.group = controlSocketGid(config).value();  // checked by readConfig
  sockOpts.maxConnections = static_cast<size_t>(config.control.maxConnections);
  sockOpts.maxConnectionsPerUid = static_cast<size_t>(config.control.maxConnectionsPerUid);
  sockOpts.adminReserve = static_cast<size_t>(config.control.adminReserve);

  auto opened = config.store.url.empty() ? openSqliteStore(config.stateDir + "/jitgate.db")
                                         : openPostgresStore(config.store.url);
  if (!opened) {
    spdlog::error("{}", opened.refusal().describe());
    return 1;
  }
  ObservedStore store(std::move(*opened));
  // Every audit entry names its node, from the first one.
  store.nameNode(config.node.name);
  std::optional<JournalAudit> journal;
  if (stderrIsJournal()) journal.emplace(store);
  boost::asio::io_context io;
  ServiceManager service(io);
  SystemClock clock;
  GrantEngine engine(store, clock, io);
  // On a store shared with other nodes: follow their changes, fail closed
  // while it is unreachable (docs/SCALE_OUT.md).
  std::optional<StoreFollower> follower;
  if (!config.store.url.empty()) {
    follower.emplace(io, store, engine,
                     FollowerOptions{std::chrono::milliseconds(500), config.store.grace});
    if (auto st = follower->start(); !st) {
      spdlog::error("store: {}", st.refusal().describe());
      return 1;
    }
  }
  if (auto st = engine.start(); !st) {
    spdlog::error("grant engine: {}", st.refusal().describe());
    return 1;
  }
  auto acceptor = openControlSocket(io, sockOpts);
  if (!acceptor) {
    spdlog::error("{}", acceptor.refusal().describe());
    return 1;
  }
  AuthorityOptions caOptions;
  caOptions.stateDir = config.stateDir;
  caOptions.sshAlgorithm = parseKeyAlgorithm(config.caSshAlgorithm).value();
  caOptions.upnDomain = config.caUpnDomain;
  auto authority = CertificateAuthority::open(store, engine, clock, caOptions);
  if (!authority) {
    spdlog::error("certificate authority: {}", authority.refusal().describe());
    return 1;
  }
  ControlApi api(engine, JITGATE_VERSION, authority->get());
  ControlServer server(io, std::move(*acceptor), api, config.roles, sockOpts);
  server.start();

  Metrics metrics(io, engine, store);
  // Recordings of terminating SSH sessions (docs/RECORDINGS.md); the
  // directory is served even with record = off, for what is already there.
  auto recordings = RecordingStore::open(config.stateDir + "/recordings", config.recordings);
  if (!recordings) {
    spdlog::error("recordings: {}", recordings.refusal().describe());
    return 1;
  }
  RecordingStore& recordingStore = **recordings;
  api.serveRecordings(&recordingStore);
  auto prune = [&] {
    for (const auto& id : recordingStore.prune(std::chrono::system_clock::now())) {
      AuditEntry e;
      e.actor = "jitgated";
      e.action = "recording.pruned";
      e.outcome = "ok";
      e.detail = "recording=" + id + " older than recordings.retention";
      (void)engine.record(std::move(e));
    }
  };
  prune();
  // Buffers written at least every flush_interval; retention applied hourly.
  boost::asio::steady_timer recordingTimer(io);
  auto lastPrune = std::chrono::steady_clock::now();
  std::function<void()> tickRecordings = [&] {
    recordingTimer.expires_after(std::chrono::seconds(1));
    recordingTimer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      recordingStore.flushDue();
      if (std::chrono::steady_clock::now() - lastPrune >= std::chrono::hours(1)) {
        lastPrune = std::chrono::steady_clock::now();
        prune();
      }
      tickRecordings();
    });
  };
  tickRecordings();
  SessionRegistry registry(engine);
  registry.setNode(config.node.name);
  api.serveSessions(&registry);
  std::string fronts;
  NodeOptions nodeOptions;
  nodeOptions.name = config.node.name;
  nodeOptions.version = JITGATE_VERSION;
  nodeOptions.lostAfter = config.node.lostAfter;
  nodeOptions.heartbeat = heartbeatFor(nodeOptions.lostAfter);
  nodeOptions.addresses.push_back("control " + config.controlSocket);
  std::unique_ptr<SshFront> sshFront;
  if (config.ssh.listen) {
    SshFrontOptions o;
    o.listen = *config.ssh.listen;
    o.stateDir = config.stateDir;
    o.loginGraceTime = config.ssh.loginGraceTime;
    o.maxUnauthenticated = config.ssh.maxUnauthenticated;
    o.maxPerSource = config.ssh.maxPerSource;
    o.warnBefore = config.ssh.warnBefore;
    o.connectTimeout = config.ssh.connectTimeout;
    o.recordings = &recordingStore;
    o.api = &api;
    auto front = SshFront::open(io, engine, **authority, registry, o);
    if (!front) {
      spdlog::error("ssh front: {}", front.refusal().describe());
      return 1;
    }
    sshFront = std::move(*front);
    sshFront->start();
    auto ep = sshFront->localEndpoint();
    ListenAddress bound{ep.address().to_string(), ep.port()};
    fronts += ", ssh " + bound.toString();
    nodeOptions.addresses.push_back("ssh " + bound.toString());
    spdlog::info("ssh front: host key {}", sshFront->hostKeyFingerprint());
  }
  std::vector<std::unique_ptr<WinrmFront>> winrmFronts;
  for (auto scheme : {WinrmScheme::Http, WinrmScheme::Https}) {
    if (!(scheme == WinrmScheme::Http ? config.winrm.httpListen : config.winrm.httpsListen))
      continue;
    auto front =
        WinrmFront::open(io, engine, registry, **authority, config.winrm, config.stateDir, scheme);
    if (!front) {
      spdlog::error("{}", front.refusal().describe());
      return 1;
    }
    (*front)->start();
    fronts += std::string(", ") + (*front)->name() + " " + (*front)->boundAddress();
    nodeOptions.addresses.push_back(std::string((*front)->name()) + " " + (*front)->boundAddress());
    winrmFronts.push_back(std::move(*front));
  }

  if (config.metrics.listen) {
    if (auto st = metrics.serve(*config.metrics.listen); !st) {
      spdlog::error("{}", st.refusal().describe());
      return 1;
    }
    fronts += ", metrics " + metrics.boundAddress();
    nodeOptions.addresses.push_back("metrics " + metrics.boundAddress());
  }
  // Registered before the loop runs, so before any session: what an earlier
  // run of this node left open is recorded as ended first.
  NodePresence presence(io, store, clock, nodeOptions);
  if (auto st = presence.start(); !st) {
    spdlog::error("node {}: {}", config.node.name, st.refusal().describe());
    return 1;
  }

  std::string readyStatus = "serving: control socket" + fronts;
  // SIGHUP (systemctl reload): the file again, through the event loop.
  boost::asio::signal_set hangups(io, SIGHUP);
  std::function<void()> awaitHangup = [&] {
    hangups.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      service.reloading("reloading " + (configPath.empty() ? "(no config file)" : configPath));
      std::string outcome = "no config file to re-read (started without --config)";
      bool ok = true;
      if (!configPath.empty()) {
        auto reread = readConfig(configPath);
        if (!reread) {
          ok = false;
          outcome = "refused, the running settings stay: " + reread.refusal().describe();
        } else {
          auto plan = planReload(config, *reread);
          server.setRoles(plan.next.roles);
          server.setLimits(plan.next.control.maxConnections, plan.next.control.maxConnectionsPerUid,
                           plan.next.control.adminReserve);
          spdlog::set_level(spdlog::level::from_str(plan.next.logLevel));
          config = plan.next;
          outcome = plan.describe();
        }
      }
      spdlog::info("reload: {}", outcome);
      AuditEntry e;
      e.actor = "jitgated";
      e.action = "config.reload";
      e.outcome = ok ? "ok" : "error";
      e.detail = outcome;
      (void)engine.record(std::move(e));
      service.ready(readyStatus + "; reload: " + outcome);
      awaitHangup();
    });
  };
  awaitHangup();

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("jitgated: signal {}, stopping", sig);
    service.stopping("stopping on signal " + std::to_string(sig));
    service.stopWatchdog();
    hangups.cancel();
    recordingTimer.cancel();
    presence.stop();
    metrics.stopServing();
    server.stop();
    if (sshFront) sshFront->stop();
    for (auto& f : winrmFronts) f->stop();
    io.stop();
  });
  spdlog::info("jitgated ready: node {}, control socket {}, state dir {}{}, {} active grants",
               config.node.name, config.controlSocket, config.stateDir, fronts,
               engine.activeGrantCount());
  service.ready(readyStatus);
  service.startWatchdog();
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("jitgated: {}", e.what());
    return 1;
  }
}
