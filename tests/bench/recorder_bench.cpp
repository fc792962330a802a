// What recording costs by itself, without the SSH session around it: the CPU
// time (user + system) of one Recorder taking SIZE_MIB of output in 32 KiB
// reads, escaped, hashed and written to a directory, for plain text ("x")
// and for NUL bytes (six bytes each in the file).
//   recorder_bench [SIZE_MIB] [DIR]     (DIR: a scratch directory, removed)
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "jitgate/recording/recording_store.hpp"

namespace {

double cpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace jitgate;
  long mib = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100;
  std::filesystem::path dir = argc > 2 ? argv[2] : "/tmp/recorder_bench";
  if (mib <= 0 || mib > 4096) {
    std::fprintf(stderr, "SIZE_MIB is 1..4096\n");
    return 2;
  }
  RecordingSettings s;
  s.maxBytes = 64ull << 30;
  s.budgetBytes = 128ull << 30;
  for (char byte : {'x', '\0'}) {
    std::filesystem::remove_all(dir);
    auto store = RecordingStore::open(dir.string(), s);
    if (!store) {
      std::fprintf(stderr, "%s\n", store.refusal().describe().c_str());
      return 1;
    }
    RecordingHeader h;
    h.session = "s-0123456789abcdef";
    h.user = "bench";
    h.target = "vm1";
    h.channel = "shell";
    auto rec = (*store)->begin(h);
    if (!rec) {
      std::fprintf(stderr, "%s\n", rec.refusal().describe().c_str());
      return 1;
    }
    std::string read(32 * 1024, byte);
    double c0 = cpuSeconds();
    for (long i = 0; i < mib * 32; ++i) (*rec)->output(read);
    auto sum = (*rec)->close();
    double cpu = cpuSeconds() - c0;
    std::printf("%-5s %ld MiB of output: %.3f CPU-s, %.0f MB/s of output, file %.1f MB\n",
                byte ? "text" : "zeros", mib, cpu, static_cast<double>(mib) * 1.048576 / cpu,
                static_cast<double>(sum.bytes) / 1e6);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
