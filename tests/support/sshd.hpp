// A real OpenSSH sshd on 127.0.0.1 for end-to-end tests (run as root), a
// Unix user to log in as, and the real ssh client. Everything started or
// created here is stopped or removed when its owner goes out of scope.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "process.hpp"
#include "test_support.hpp"

namespace jitgate::testing {

inline constexpr const char* kSshdPath = "/usr/sbin/sshd";
inline constexpr const char* kSshPath = "/usr/bin/ssh";
inline constexpr const char* kSshKeygenPath = "/usr/bin/ssh-keygen";

// Why a real sshd cannot run here (empty when it can): it needs root, for
// privilege separation, and the openssh-server package.
inline std::string sshdUnavailableReason() {
  if (::geteuid() != 0) return "needs root to run sshd";
  if (::access(kSshdPath, X_OK) != 0) return std::string(kSshdPath) + " is not installed";
  if (::access(kSshPath, X_OK) != 0) return std::string(kSshPath) + " is not installed";
  if (::access(kSshKeygenPath, X_OK) != 0) return std::string(kSshKeygenPath) + " is not installed";
  return "";
}

// Writes `content` to `path` whole: a temporary file renamed into place, so
// that an sshd reading the file between logins never sees half of it.
inline void writeFileAtomically(const std::string& path, std::string_view content,
                                mode_t mode = 0644) {
  std::string tmp = path + ".new";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  if (::chmod(tmp.c_str(), mode) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot install " + path);
}

// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it
// back, close). Another process may take it first: callers retry.
inline int pickFreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct SshdOptions {
  // Contents of the TrustedUserCAKeys file: public key lines, one per CA.
  std::string trustedUserCaKeys;
  // Contents of the RevokedKeys file (a KRL or public key lines); no
  // RevokedKeys line at all when unset. Rewritable with setRevokedKeys().
  std::optional<std::string> revokedKeys;
  // The jitgate target this sshd is: jitgate's certificates name
  // "<user>@<target>", accepted through the documented target-side line
  // (docs/CERTIFICATES.md), `AuthorizedPrincipalsCommand /usr/bin/echo
  // %u@<target>`. Empty: no principals line (sshd then wants the bare login).
  std::string jitgateTarget = "vm1";
  // UsePAM yes runs sshd through a symlink named `pamService` (sshd 9.2 has
  // no PAMServiceName: the service is argv[0]'s basename), so that a private
  // /etc/pam.d/<pamService> is used instead of /etc/pam.d/sshd.
  bool usePam = false;
  std::string pamService = "sshd-jitgate";
  // Written to /etc/pam.d/<pamService> (which must not exist yet) and
  // removed at the end. Unset: the caller provides the file.
  std::optional<std::string> pamConfig;
  // VERBOSE names each refusal; DEBUG2 adds the reasons VERBOSE leaves out
  // (a CA that is not trusted). sshd takes the first LogLevel line, so it
  // is an option here rather than an extraConfig line.
  std::string logLevel = "VERBOSE";
  // More sshd_config lines, appended as they are (for a keyword already
  // set above, sshd keeps the first value: these do not override).
  std::vector<std::string> extraConfig;
};

// One sshd -D on 127.0.0.1:port(), with its own host key, config, pid file
// and log, in a directory of its own. Throws std::runtime_error (with the
// log) if it does not come up.
class Sshd {
 public:
  explicit Sshd(SshdOptions options) : options_(std::move(options)) {
    try {
      start();
    } catch (...) {
      cleanup();
      throw;
    }
  }
  ~Sshd() { cleanup(); }
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_.path(); }
  std::string configPath() const { return dir_ / "sshd_config"; }
  std::string logPath() const { return dir_ / "sshd.log"; }
  std::string trustedUserCaKeysPath() const { return dir_ / "trusted_user_ca_keys"; }
  std::string revokedKeysPath() const { return dir_ / "revoked_keys"; }
  std::string hostKeyPath() const { return dir_ / "host_ed25519"; }

  // sshd reads both files at each authentication: no restart needed.
  void setTrustedUserCaKeys(std::string_view content) {
    writeFileAtomically(trustedUserCaKeysPath(), content);
  }
  void setRevokedKeys(std::string_view content) {
    if (!options_.revokedKeys) throw std::logic_error("sshd was started without RevokedKeys");
    writeFileAtomically(revokedKeysPath(), content);
  }

  // Everything sshd and its per-connection children logged so far.
  std::string log() const { return slurp(logPath()); }
  // A mark to pass to waitForLog() so that it looks only at later lines.
  size_t logMark() const { return log().size(); }
  // True once the log, from `from` on, contains `needle`. Per-connection
  // processes may log a little after the client has gone, hence the wait.
  bool waitForLog(std::string_view needle, size_t from = 0,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto text = log();
      if (text.size() > from && text.find(needle, from) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  void start() {
    if (auto why = sshdUnavailableReason(); !why.empty()) throw std::runtime_error(why);
    // The privilege separation directory; shared by every sshd on the host,
    // so it is left in place.
    std::error_code ec;
    std::filesystem::create_directories("/run/sshd", ec);
    ::chmod("/run/sshd", 0755);

    auto keygen = run({kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-C", "jitgate-test-host",
                       "-f", hostKeyPath()},
                      dir_.path());
    if (keygen.exitCode != 0) throw std::runtime_error("ssh-keygen (host key): " + keygen.err);
    writeFileAtomically(trustedUserCaKeysPath(), options_.trustedUserCaKeys);
    if (options_.revokedKeys) writeFileAtomically(revokedKeysPath(), *options_.revokedKeys);

    std::string binary = kSshdPath;
    if (options_.usePam) {
      if (options_.pamService.empty() || options_.pamService.find('/') != std::string::npos)
        throw std::runtime_error("bad PAM service name: " + options_.pamService);
      if (options_.pamConfig) {
        std::string pamFile = "/etc/pam.d/" + options_.pamService;
        int fd = ::open(pamFile.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) throw std::runtime_error("cannot create " + pamFile + " (exists?)");
        pamFileCreated_ = pamFile;
        const std::string& text = *options_.pamConfig;
        bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        ::close(fd);
        if (!written) throw std::runtime_error("cannot write " + pamFile);
      }
      // Absolute, as sshd re-executes itself by its argv[0].
      binary = dir_ / options_.pamService;
      std::filesystem::create_symlink(kSshdPath, binary);
    }

    // The port was free when picked, but another test may take it before
    // sshd binds: then sshd exits at once, and we try another.
    std::string lastLog;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = pickFreeLoopbackPort();
      writeConfig();
      ::unlink(logPath().c_str());
      spawn(binary);
      if (waitListening()) return;
      lastLog = log();
      stop();
      if (lastLog.find("Cannot bind any address") == std::string::npos &&
          lastLog.find("Address already in use") == std::string::npos)
        break;
    }
    throw std::runtime_error("sshd did not start; its log:\n" + lastLog);
  }

  void writeConfig() {
    std::string c;
    auto line = [&c](const std::string& s) { c += s + "\n"; };
    line("ListenAddress 127.0.0.1:" + std::to_string(port_));
    line("HostKey " + hostKeyPath());
    line("PidFile " + dir_ / "sshd.pid");
    line("TrustedUserCAKeys " + trustedUserCaKeysPath());
    if (options_.revokedKeys) line("RevokedKeys " + revokedKeysPath());
    line("AuthorizedKeysFile none");
    if (!options_.jitgateTarget.empty()) {
      line("AuthorizedPrincipalsCommand /usr/bin/echo %u@" + options_.jitgateTarget);
      line("AuthorizedPrincipalsCommandUser nobody");
    }
    line("AuthorizedPrincipalsFile none");
    line("PubkeyAuthentication yes");
    line("PasswordAuthentication no");
    line("KbdInteractiveAuthentication no");
    line("HostbasedAuthentication no");
    line("StrictModes no");  // the test user's home lives under a temp dir
    line(std::string("UsePAM ") + (options_.usePam ? "yes" : "no"));
    line("LogLevel " + options_.logLevel);
    line("PrintMotd no");
    line("Banner none");
    line("UseDNS no");
    for (const auto& extra : options_.extraConfig) line(extra);
    writeFileAtomically(configPath(), c);
  }

  void spawn(const std::string& binary) {
    std::string config = configPath();
    std::string logFile = logPath();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int log = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int nul = ::open("/dev/null", O_RDWR);
      if (log < 0 || nul < 0) childFailed("cannot open", logFile.c_str(), 127);
      ::dup2(nul, 0);
      ::dup2(nul, 1);
      ::dup2(log, 2);
      execOrExplain({binary, "-f", config, "-D", "-e"});
    }
  }

  // Waits for "Server listening on 127.0.0.1 port N.", logged once listen()
  // has returned; false if sshd exited or 10 s passed.
  bool waitListening() {
    std::string needle = "Server listening on 127.0.0.1 port " + std::to_string(port_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (log().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Direct children of `parent` (sshd's per-connection processes), read
  // from /proc: they run in sessions of their own, so a process group kill
  // would miss them.
  static std::vector<pid_t> childrenOf(pid_t parent) {
    std::vector<pid_t> kids;
    DIR* proc = ::opendir("/proc");
    if (!proc) return kids;
    while (dirent* e = ::readdir(proc)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (pid <= 0 || *end != '\0') continue;
      std::string stat = slurp("/proc/" + std::string(e->d_name) + "/stat");
      // pid (comm) state ppid ...: comm may hold spaces, so parse after ')'.
      auto close = stat.rfind(')');
      if (close == std::string::npos) continue;
      char state = 0;
      long ppid = 0;
      if (std::sscanf(stat.c_str() + close + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent)
        kids.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return kids;
  }

  // SIGTERM, then SIGKILL after 5 s; per-connection children first.
  void stop() {
    if (pid_ <= 0) return;
    for (pid_t kid : childrenOf(pid_)) ::kill(kid, SIGTERM);
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 250; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (pid_t kid : childrenOf(pid_)) ::kill(kid, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  void cleanup() {
    stop();
    if (!pamFileCreated_.empty()) {
      ::unlink(pamFileCreated_.c_str());
      pamFileCreated_.clear();
    }
    // dir_ (keys, config, log, symlink) goes with its destructor.
  }

  SshdOptions options_;
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string pamFileCreated_;
};

// A Unix account to log in as: no password (`*`), /bin/sh, a home under a
// temporary directory. Removed (userdel -r) at the end.
class UnixLoginUser {
 public:
  // `prefix` + a suffix unique to this process and object; at most 32
  // characters, lower case, as useradd wants.
  explicit UnixLoginUser(const std::string& prefix = "jgt") {
    static std::atomic<int> counter{0};
    if (::chmod(dir_.path().c_str(), 0755) != 0)  // the user must reach its home
      throw std::runtime_error("chmod " + dir_.path());
    for (int attempt = 0; attempt < 20 && name_.empty(); ++attempt) {
      std::string candidate = prefix + std::to_string(::getpid()) + "x" + std::to_string(++counter);
      if (::getpwnam(candidate.c_str()) == nullptr) name_ = candidate;
    }
    if (name_.empty()) throw std::runtime_error("no free user name");
    home_ = dir_ / "home";
    auto added = run({"/usr/sbin/useradd", "-m", "-d", home_, "-s", "/bin/sh", name_}, dir_.path());
    if (added.exitCode != 0) {
      std::string err = added.err;
      name_.clear();
      throw std::runtime_error("useradd: " + err);
    }
    auto unlocked = run({"/usr/sbin/usermod", "-p", "*", name_}, dir_.path());
    if (unlocked.exitCode != 0) {
      std::string err = unlocked.err;
      remove();
      throw std::runtime_error("usermod: " + err);
    }
    passwd* pw = ::getpwnam(name_.c_str());
    if (!pw) {
      remove();
      throw std::runtime_error("getpwnam after useradd failed");
    }
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
  }
  ~UnixLoginUser() { remove(); }
  UnixLoginUser(const UnixLoginUser&) = delete;
  UnixLoginUser& operator=(const UnixLoginUser&) = delete;

  const std::string& name() const { return name_; }
  const std::string& home() const { return home_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

 private:
  // Live processes running as this user (a session's command outliving
  // its sshd, say), read from /proc.
  std::vector<pid_t> processes() const {
    std::vector<pid_t> pids;
    DIR* proc = ::opendir("/proc");
    if (!proc) return pids;
    while (dirent* e = ::readdir(proc)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (pid <= 0 || *end != '\0') continue;
      std::string dir = "/proc/" + std::string(e->d_name);
      struct stat st {};
      if (::stat(dir.c_str(), &st) != 0 || st.st_uid != uid_) continue;
      // A zombie is already gone, only not yet reaped (by init, lazily).
      std::string stat = slurp(dir + "/stat");
      auto close = stat.rfind(')');
      if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z') continue;
      pids.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return pids;
  }

  // userdel refuses (exit 8) while a process runs as the user: a session
  // that has just ended gets a moment to go, then what is left is killed.
  void remove() {
    if (name_.empty()) return;
    if (uid_ != 0) {
      for (int i = 0; i < 50 && !processes().empty(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      for (int round = 0; round < 5; ++round) {
        auto left = processes();
        if (left.empty()) break;
        for (pid_t pid : left) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    for (int attempt = 0; attempt < 20; ++attempt) {
      (void)run({"/usr/sbin/userdel", "-r", name_}, dir_.path());
      if (::getpwnam(name_.c_str()) == nullptr) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (::getpwnam(name_.c_str()) != nullptr)
      (void)run({"/usr/sbin/userdel", "-r", "-f", name_}, dir_.path());
    name_.clear();
  }

  TempDir dir_;
  std::string name_;
  std::string home_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

// One run of the real ssh client with a key and its certificate, no user
// configuration, no agent keys, no host key prompt.
struct SshLogin {
  int port = 0;
  std::string user;
  std::string identity;     // private key file
  std::string certificate;  // its certificate (-cert.pub); empty: none
  std::string bindAddress;  // ssh -b; empty: the system's choice
  std::string host = "127.0.0.1";
  std::string command = "true";
  // More "-o NAME=VALUE", after the fixed ones (ssh keeps the first value of
  // an option, so these add options rather than override them).
  std::vector<std::string> extraOptions;
};

inline RunResult sshRun(const SshLogin& login, const std::string& scratch) {
  std::vector<std::string> argv{kSshPath, "-F", "/dev/null", "-i", login.identity};
  if (!login.certificate.empty()) {
    argv.push_back("-o");
    argv.push_back("CertificateFile=" + login.certificate);
  }
  for (const char* opt : {"IdentitiesOnly=yes", "StrictHostKeyChecking=no",
                          "UserKnownHostsFile=/dev/null", "BatchMode=yes", "ConnectTimeout=5"}) {
    argv.push_back("-o");
    argv.push_back(opt);
  }
  for (const auto& opt : login.extraOptions) {
    argv.push_back("-o");
    argv.push_back(opt);
  }
  argv.push_back("-p");
  argv.push_back(std::to_string(login.port));
  if (!login.bindAddress.empty()) {
    argv.push_back("-b");
    argv.push_back(login.bindAddress);
  }
  argv.push_back(login.user + "@" + login.host);
  argv.push_back(login.command);
  return run(argv, scratch);
}

}  // namespace jitgate::testing
