// Requests per second and MB/s through the WinRM front against straight to
// a WS-Man stand-in, in the same run: the real jitgated (HTTP front), an
// in-process Beast stand-in on 127.0.0.1 that answers every POST with a body
// of the size the query asks for (?size=N), and keep-alive load clients.
//   build/tests/bench/winrm_bench [SECONDS_PER_RUN] [CONNECTIONS]
// Figures and the command: docs/BENCHMARKS.md, section (d).
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/control_client.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// The stand-in: one thread, async, keep-alive; body size from ?size=N.
class BenchStandin {
 public:
  BenchStandin() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~BenchStandin() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  struct Conn : std::enable_shared_from_this<Conn> {
    explicit Conn(tcp::socket s) : stream(std::move(s)) {}
    beast::tcp_stream stream;
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    http::response<http::string_body> res;
    void read() {
      req = {};
      http::async_read(stream, buf, req, [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return;
        std::string t(self->req.target());
        size_t size = 2048;
        if (auto q = t.find("size="); q != std::string::npos) size = std::stoul(t.substr(q + 5));
        self->res = {http::status::ok, 11};
        self->res.set(http::field::content_type, "application/soap+xml;charset=UTF-8");
        self->res.body().assign(size, 'x');
        self->res.keep_alive(self->req.keep_alive());
        self->res.prepare_payload();
        http::async_write(self->stream, self->res, [self](beast::error_code ec, size_t) {
          if (!ec) self->read();
        });
      });
    }
  };
  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      s.set_option(tcp::no_delay(true));
      std::make_shared<Conn>(std::move(s))->read();
      accept();
    });
  }
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

struct Load {
  uint64_t requests = 0;
  uint64_t bytes = 0;  // response bodies
  double seconds = 0;
  uint64_t errors = 0;
};

// `conns` keep-alive connections, each on its own thread, POSTing a
// pywinrm-sized envelope (1.7 KB) for `seconds`.
Load runLoad(uint16_t port, const std::string& path, int conns, double seconds) {
  std::atomic<uint64_t> requests{0}, bytes{0}, errors{0};
  std::string envelope(1700, 'e');
  auto end = Clock::now() +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < conns; ++i) {
    threads.emplace_back([&] {
      asio::io_context io;
      beast::tcp_stream s(io);
      beast::error_code ec;
      s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
      if (ec) {
        ++errors;
        return;
      }
      s.socket().set_option(tcp::no_delay(true));
      beast::flat_buffer buf;
      http::request<http::string_body> req{http::verb::post, path, 11};
      req.set(http::field::host, "bench");
      req.set(http::field::authorization, "Basic YWxpY2U6cHc=");  // alice:pw
      req.set(http::field::content_type, "application/soap+xml;charset=UTF-8");
      req.body() = envelope;
      req.prepare_payload();
      while (Clock::now() < end) {
        http::write(s, req, ec);
        if (ec) break;
        http::response_parser<http::string_body> p;
        p.body_limit(64 << 20);
        http::read(s, buf, p, ec);
        if (ec || p.get().result() != http::status::ok) {
          ++errors;
          break;
        }
        ++requests;
        bytes += p.get().body().size();
      }
    });
  }
  for (auto& t : threads) t.join();
  Load l;
  l.requests = requests;
  l.bytes = bytes;
  l.errors = errors;
  l.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return l;
}

double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  auto close = stat.rfind(')');
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace jitgate;
  double seconds = argc > 1 ? std::atof(argv[1]) : 5;
  int conns = argc > 2 ? std::atoi(argv[2]) : 4;
  if (seconds <= 0 || conns <= 0 || conns > 256) {
    std::fprintf(stderr, "usage: winrm_bench [SECONDS_PER_RUN] [CONNECTIONS]\n");
    return 2;
  }
  BenchStandin standin;
  testing::TempDir dir;
  std::string sock = dir / "c.sock";
  testing::Daemon daemon(JITGATED_BIN,
                         {"--state-dir", dir / "state", "--control-socket", sock, "--ssh-listen",
                          "off", "--winrm-https-listen", "off"},
                         dir / "daemon.log");
  if (!daemon.waitReady()) {
    std::fprintf(stderr, "jitgated did not start:\n%s\n", daemon.log().c_str());
    return 1;
  }
  std::smatch m;
  std::string log = daemon.log();
  if (!std::regex_search(log, m, std::regex("winrm-http 127\\.0\\.0\\.1:(\\d+)"))) return 1;
  uint16_t front = static_cast<uint16_t>(std::stoi(m[1]));
  std::string sp = std::to_string(standin.port());
  auto must = [&](http::verb method, const std::string& target, const std::string& body) {
    auto r = callApi(sock, method, target, body);
    if (!r || r->status >= 300) {
      std::fprintf(stderr, "%s failed: %s\n", target.c_str(),
                   r ? r->body.c_str() : r.refusal().message.c_str());
      std::exit(1);
    }
  };
  must(http::verb::post, "/v1/targets",
       R"({"name":"vm1","address":"127.0.0.1","os":"windows","winrmHttpPort":)" + sp + "}");
  must(http::verb::put, "/v1/targets/vm1/policy",
       R"({"ports":[{"number":)" + sp +
           R"(,"protocol":"tcp","allowedSourceAddressPrefixes":["*"]}]})");
  must(http::verb::post, "/v1/grants",
       R"({"user":"alice","target":"vm1","port":)" + sp +
           R"(,"source":"127.0.0.1","duration":"PT1H"})");

  std::printf("winrm_bench: %.1f s per run, %d keep-alive connections, 1.7 KB requests\n", seconds,
              conns);
  std::printf("%-34s %10s %10s %9s %14s\n", "run", "req/s", "MB/s", "errors", "jitgated CPU s");
  struct Run {
    const char* name;
    bool through;
    size_t size;
  } runs[] = {{"direct, 2 KiB responses", false, 2048},
              {"through front, 2 KiB responses", true, 2048},
              {"direct, 1 MiB responses", false, 1 << 20},
              {"through front, 1 MiB responses", true, 1 << 20}};
  for (const auto& r : runs) {
    std::string path =
        std::string(r.through ? "/vm1" : "") + "/wsman?size=" + std::to_string(r.size);
    double cpu0 = cpuSeconds(daemon.pid());
    auto l = runLoad(r.through ? front : standin.port(), path, conns, seconds);
    double cpu = cpuSeconds(daemon.pid()) - cpu0;
    std::printf("%-34s %10.0f %10.1f %9llu %14.2f\n", r.name, l.requests / l.seconds,
                l.bytes / l.seconds / 1e6, static_cast<unsigned long long>(l.errors), cpu);
  }
  return 0;
}
