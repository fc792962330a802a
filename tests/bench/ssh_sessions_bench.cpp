// Many idle forwarded sessions through the real jitgated: its memory per
// session, and how long after the window's end the last of them is cut.
//   build/tests/bench/ssh_sessions_bench [SESSIONS] [WINDOW_SECONDS]
// Each session is a libssh client connection authenticated with a registered
// key, holding one direct-tcpip channel to a granted port where a listener
// of this program holds the TCP connection open. All sessions are under one
// user's grants, one grant per 100 sessions (so that several grants end at
// the same instant). The lag of a session is the time from the window's end
// until its socket turns readable (the bastion's close) on the client side.
#include <libssh/libssh.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/timefmt.hpp"

namespace {

using Steady = std::chrono::steady_clock;

long rssKib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double cpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), {});
  auto close = all.rfind(')');
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Accepts and keeps every connection (the "target service").
struct Holder {
  int listenFd = -1;
  int port = 0;
  std::vector<int> held;
  std::thread thread;
  std::atomic<bool> stop{false};
  Holder() {
    listenFd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(listenFd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listenFd, 4096);
    ::getsockname(listenFd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    thread = std::thread([this] {
      while (!stop) {
        pollfd p{listenFd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) held.push_back(fd);
      }
    });
  }
  ~Holder() {
    stop = true;
    thread.join();
    for (int fd : held) ::close(fd);
    ::close(listenFd);
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace jitgate;
  int sessions = argc > 1 ? std::atoi(argv[1]) : 1000;
  int window = argc > 2 ? std::atoi(argv[2]) : 0;
  if (sessions <= 0 || sessions > 20000 || window < 0) {
    std::fprintf(stderr, "usage: ssh_sessions_bench [SESSIONS] [WINDOW_SECONDS]\n");
    return 2;
  }
  if (window == 0) window = 20 + sessions / 25;  // room to set them all up first
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);

  testing::TempDir dir;
  std::string sock = dir / "c.sock";
  testing::Daemon daemon(JITGATED_BIN,
                         {"--state-dir", dir / "state", "--control-socket", sock,
                          "--winrm-http-listen", "off", "--winrm-https-listen", "off"},
                         dir / "daemon.log");
  if (!daemon.waitReady()) {
    std::fprintf(stderr, "jitgated did not start:\n%s\n", daemon.log().c_str());
    return 1;
  }
  std::smatch m;
  std::string log = daemon.log();
  if (!std::regex_search(log, m, std::regex("ssh 127\\.0\\.0\\.1:([0-9]+)"))) return 1;
  int bastionPort = std::stoi(m[1]);
  pid_t pid = daemon.pid();

  Holder holder;
  auto jitctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {JITCTL_BIN, "--socket", sock});
    auto r = testing::run(args, dir.path());
    if (r.exitCode != 0) {
      std::fprintf(stderr, "jitctl failed: %s\n", r.err.c_str());
      std::exit(1);
    }
    return r.out;
  };
  testing::run({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir / "id"},
               dir.path());
  std::string port = std::to_string(holder.port);
  jitctl({"target", "add", "hold", "--address", "127.0.0.1", "--os", "linux"});
  jitctl({"policy", "enable", "hold", "--port", port, "--from", "127.0.0.0/8", "--max", "1h"});
  jitctl({"user", "add", "bench", "--key", dir / "id.pub"});
  // All windows end at the same second.
  auto end = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) +
             std::chrono::seconds(window);
  std::string until = formatTimestamp(end);
  for (int g = 0; g < (sessions + 99) / 100; ++g)
    jitctl({"grant", "bench", "hold", "--port", port, "--from", "127.0.0.1", "--until", until});

  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file((dir / "id").c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
    return 1;
  long rssBefore = rssKib(pid);
  double cpuBefore = cpuSeconds(pid);
  std::vector<ssh_session> clients;
  std::vector<ssh_channel> channels;
  auto setupStart = Steady::now();
  for (int i = 0; i < sessions; ++i) {
    ssh_session s = ssh_new();
    int zero = 0;
    ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
    ssh_options_set(s, SSH_OPTIONS_PORT, &bastionPort);
    ssh_options_set(s, SSH_OPTIONS_USER, "bench");
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero);
    int one = 1;
    ssh_options_set(s, SSH_OPTIONS_NODELAY, &one);
    if (ssh_connect(s) != SSH_OK || ssh_userauth_publickey(s, nullptr, key) != SSH_AUTH_SUCCESS) {
      std::fprintf(stderr, "session %d: %s\n", i, ssh_get_error(s));
      return 1;
    }
    ssh_channel c = ssh_channel_new(s);
    if (ssh_channel_open_forward(c, "hold", holder.port, "127.0.0.1", 50000) != SSH_OK) {
      std::fprintf(stderr, "channel %d: %s\n", i, ssh_get_error(s));
      return 1;
    }
    clients.push_back(s);
    channels.push_back(c);
  }
  double setupSeconds = std::chrono::duration<double>(Steady::now() - setupStart).count();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  long rssAfter = rssKib(pid);
  double cpuSetup = cpuSeconds(pid) - cpuBefore;
  auto now = std::chrono::system_clock::now();
  if (now >= end) {
    std::fprintf(stderr, "setup took past the window's end: use a longer window\n");
    return 1;
  }

  // Wait for each client's socket to turn readable after the end.
  std::vector<pollfd> fds;
  for (auto* s : clients) fds.push_back({ssh_get_fd(s), POLLIN, 0});
  std::vector<double> lag(clients.size(), -1);
  size_t cut = 0;
  auto deadline = end + std::chrono::seconds(30);
  bool early = false;
  while (cut < clients.size() && std::chrono::system_clock::now() < deadline) {
    if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
    auto t = std::chrono::system_clock::now();
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (t < end) early = true;
      lag[i] = std::chrono::duration<double>(t - end).count();
      fds[i].fd = -1;
      ++cut;
    }
  }
  std::vector<double> lags;
  for (double l : lag)
    if (l >= -10) lags.push_back(l);
  std::printf(
      "sessions: %d idle forwarded sessions (libssh clients, one direct-tcpip channel each)\n",
      sessions);
  std::printf("setup: %.1f s in all, %.1f ms per session (sequential), jitgated CPU %.2f s\n",
              setupSeconds, 1000 * setupSeconds / sessions, cpuSetup);
  std::printf("jitgated RSS: %ld KiB before, %ld KiB with the sessions: %.1f KiB per session\n",
              rssBefore, rssAfter,
              static_cast<double>(rssAfter - rssBefore) / static_cast<double>(sessions));
  std::printf("cutoff: %zu of %zu cut within 30 s of the window's end%s\n", cut, clients.size(),
              early ? " (SOME BEFORE THE END)" : "");
  std::printf("cutoff lag after the end: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
              1000 * percentile(lags, 0.5), 1000 * percentile(lags, 0.99),
              1000 * percentile(lags, 1.0));
  for (auto* c : channels) ssh_channel_free(c);
  for (auto* s : clients) {
    ssh_disconnect(s);
    ssh_free(s);
  }
  ssh_key_free(key);
  return cut == clients.size() && !early ? 0 : 1;
}
