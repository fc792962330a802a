// Recordings end to end: the real ssh client with a pty through the bastion
// to a real sshd; the files read by Debian's asciinema; jitctl recordings,
// replay, export, verify and search; a kill -9 of jitgated; the limits.
#include <sys/stat.h>

#include <fstream>

#include "ssh_bastion_fixture.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using SshRecordingsTest = SshBastionTest;

const std::string kAsciinema = "/usr/bin/asciinema";
const std::string kScript = "/usr/bin/script";

bool asciinemaAvailable() { return ::access(kAsciinema.c_str(), X_OK) == 0; }

// asciinema cat writes to a terminal (it opens /dev/tty): under script(1).
RunResult asciinemaCat(const TempDir& dir, const std::string& file) {
  return testing::run({kScript, "-qec", kAsciinema + " cat " + file, "/dev/null"}, dir.path());
}

// The one recording's id, from jitctl recordings --json.
std::string onlyId(const std::string& listed) {
  auto at = listed.find("\"id\":\"s-");
  return at == std::string::npos ? "" : listed.substr(at + 6, 20);
}

TEST_F(SshRecordingsTest, APtyCommandIsRecordedPlayedExportedAndVerified) {
  if (!asciinemaAvailable()) GTEST_SKIP() << "no " << kAsciinema << " (apt install asciinema)";
  auto gid = grant(targetPort_);
  auto r = ssh("printf 'recorded-%s\\n' output; exit 0", {"-tt"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string listed = out({"recordings", "--json", "--user", user_->name()});
  std::string id = onlyId(listed);
  ASSERT_FALSE(id.empty()) << listed;
  EXPECT_NE(listed.find("\"channel\":\"exec\""), std::string::npos) << listed;
  EXPECT_NE(listed.find("\"grant\":\"" + gid + "\""), std::string::npos) << listed;
  EXPECT_NE(listed.find("\"closed\":true"), std::string::npos) << listed;
  EXPECT_EQ(out({"recordings", "--json", "--target", "nope"}), "[]");

  // On disk: named by session id, 0600 in a 0700 directory.
  std::string file = dir_ / ("state/recordings/" + id + ".cast");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ / "state/recordings").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::string head = testing::slurp(file).substr(0, 600);
  EXPECT_NE(head.find("\"command\": \"printf 'recorded-%s\\\\n' output; exit 0\""),
            std::string::npos)
      << head;
  EXPECT_NE(head.find("\"session\": \"" + id.substr(0, 18) + "\""), std::string::npos) << head;

  // Debian's asciinema reads it.
  auto cat = asciinemaCat(dir_, file);
  EXPECT_EQ(cat.exitCode, 0) << cat.err;
  EXPECT_NE(cat.out.find("recorded-output"), std::string::npos) << cat.out;

  // Export (0600), replay at once, verify.
  auto exp = jitctl({"recording", "export", id, "-o", dir_ / "out.cast"});
  ASSERT_EQ(exp.exitCode, 0) << exp.err;
  ASSERT_EQ(::stat((dir_ / "out.cast").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(testing::slurp(dir_ / "out.cast"), testing::slurp(file));
  auto replay = jitctl({"replay", id, "--instant"});
  ASSERT_EQ(replay.exitCode, 0) << replay.err;
  EXPECT_NE(replay.out.find("recorded-output"), std::string::npos) << replay.out;
  auto v = jitctl({"recording", "verify", id});
  EXPECT_EQ(v.exitCode, 0) << v.err;
  EXPECT_NE(v.out.find(id + ": intact"), std::string::npos) << v.out;

  // The audit log links the session, its command and its recording.
  auto a = audit();
  EXPECT_NE(a.find("recording=" + id + " exec: printf"), std::string::npos) << a;
  EXPECT_NE(a.find("session.recording,ok,vm1"), std::string::npos) << a;
  EXPECT_NE(a.find("recording=" + id + " sha256="), std::string::npos) << a;
  EXPECT_NE(a.find("recording.read,ok,vm1"), std::string::npos) << a;

  // One changed byte: altered.
  std::string text = testing::slurp(file);
  auto at = text.find("recorded-output");
  ASSERT_NE(at, std::string::npos);
  text[at] = 'R';
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  v = jitctl({"recording", "verify", id});
  EXPECT_EQ(v.exitCode, 1) << v.out << v.err;
  EXPECT_NE(v.err.find(id + ": altered"), std::string::npos) << v.err;
  EXPECT_NE(v.err.find("does not match its hash"), std::string::npos) << v.err;
}

TEST_F(SshRecordingsTest, SearchFindsAWordEditedWithBackspaceAsShownAndInputWithRecordAll) {
  restartWithConfig("[recordings]\nrecord = \"all\"\n");
  grant(targetPort_);
  // A shell with a pty: ": " is a command that prints nothing, so the word
  // is on the screen only as typed (and edited: DEL is the tty's erase).
  std::string ssh;
  for (const auto& part : sshArgs({"-tt"})) ssh += "'" + part + "' ";
  auto r = testing::run(
      {"/bin/sh", "-c",
       "(sleep 1; printf ': secrex\\177t-typed\\n'; sleep 1; printf 'exit\\n') | " + ssh},
      dir_.path());
  ASSERT_EQ(r.exitCode, 0) << r.err << r.out;
  std::string id = onlyId(out({"recordings", "--json"}));
  ASSERT_FALSE(id.empty());
  std::string file = testing::slurp(dir_ / ("state/recordings/" + id + ".cast"));
  EXPECT_EQ(file.find("secret-typed"), std::string::npos) << "the raw stream holds the edit";
  EXPECT_NE(file.find(", \"i\", \""), std::string::npos) << "record = all keeps input";
  EXPECT_NE(file.find("\"channel\": \"shell\""), std::string::npos);

  auto hits = jitctl({"recordings", "search", "secret-typed", "--json"});
  ASSERT_EQ(hits.exitCode, 0) << hits.err;
  EXPECT_NE(hits.out.find("\"recording\":\"" + id + "\""), std::string::npos) << hits.out;
  EXPECT_NE(hits.out.find(": secret-typed\""), std::string::npos) << hits.out;
  auto at = hits.out.find("\"offsetSeconds\":");
  ASSERT_NE(at, std::string::npos);
  double offset = std::strtod(hits.out.c_str() + at + 16, nullptr);
  EXPECT_GT(offset, 0.5) << hits.out;  // typed after the one-second pause
  EXPECT_LT(offset, 10.0) << hits.out;
  auto table = jitctl({"recordings", "search", "SECRET-TYPED", "--user", user_->name()});
  EXPECT_NE(table.out.find(id), std::string::npos) << table.out;
  EXPECT_EQ(out({"recordings", "search", "secret-typed", "--json", "--target", "nope"}), "[]");
  EXPECT_EQ(out({"recordings", "search", "secrex", "--json"}).find("secrex\""), std::string::npos);
}

TEST_F(SshRecordingsTest, ARecordingSurvivesKill9AndStillPlaysToItsLastFlush) {
  if (!asciinemaAvailable()) GTEST_SKIP() << "no " << kAsciinema;
  grant(targetPort_);
  auto argv = sshArgs({"-tt"});
  argv.push_back("echo before-the-crash; sleep 60");
  Background session(argv, dir_ / "s.out", dir_ / "s.err");
  std::string dir = dir_ / "state/recordings";
  std::string file;
  for (int i = 0; i < 200 && file.empty(); ++i) {
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".cast" &&
          testing::slurp(e.path()).find(", \"o\", \"before-the-crash") != std::string::npos)
        file = e.path();
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(file.empty()) << "not flushed within 10 s";
  daemon_->kill9();
  session.stop();
  auto cat = asciinemaCat(dir_, file);
  EXPECT_EQ(cat.exitCode, 0) << cat.err;
  EXPECT_NE(cat.out.find("before-the-crash"), std::string::npos) << cat.out;
  startDaemon({});
  std::string id = std::filesystem::path(file).stem();
  auto v = jitctl({"recording", "verify", id});
  EXPECT_EQ(v.exitCode, 3) << v.out << v.err;
  EXPECT_NE(v.err.find("incomplete"), std::string::npos) << v.err;
  auto listed = out({"recordings", "--json"});
  EXPECT_NE(listed.find("\"closed\":false"), std::string::npos) << listed;
}

TEST_F(SshRecordingsTest, AFullBudgetRefusesWithTheReasonOrGoesOnUnrecorded) {
  restartWithConfig("[recordings]\nmax_size = \"64K\"\nbudget = \"64K\"\n");
  grant(targetPort_);
  auto first = ssh("echo first", {"-tt"});
  ASSERT_EQ(first.exitCode, 0) << first.err;
  EXPECT_EQ(first.out, "first\r\n");
  // The first recording's bytes leave no room for another at the cap.
  auto r = ssh("echo second", {"-tt"});
  EXPECT_EQ(r.exitCode, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("cannot be recorded, so it does not run"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("disk budget is full"), std::string::npos) << r.err;
  EXPECT_TRUE(waitAudit("reason=recording_unavailable")) << audit();

  restartWithConfig(
      "[recordings]\nmax_size = \"64K\"\nbudget = \"64K\"\nwhen_full = \"continue\"\n");
  auto cont = ssh("echo third", {"-tt"});
  EXPECT_EQ(cont.exitCode, 0) << cont.err;
  EXPECT_EQ(cont.out, "third\r\n");
  EXPECT_TRUE(waitAudit("recording=- unrecorded: the recordings' disk budget is full")) << audit();
}

TEST_F(SshRecordingsTest, TheSizeCapEndsTheSessionWithTheReason) {
  restartWithConfig("[recordings]\nmax_size = \"64K\"\n");
  grant(targetPort_);
  auto r = ssh("head -c 300000 /dev/zero | tr '\\0' x; sleep 20", {"-tt"});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("size cap"), std::string::npos) << r.err;
  EXPECT_LT(r.out.size(), 200000u);
  std::string id = onlyId(out({"recordings", "--json"}));
  auto v = jitctl({"recording", "verify", id});
  EXPECT_EQ(v.exitCode, 0) << v.err;
  EXPECT_TRUE(waitAudit("end=size_cap")) << audit();
  EXPECT_TRUE(waitAudit("reason=recording_unavailable")) << audit();
}

TEST_F(SshRecordingsTest, ACommandWithoutAPtyIsRecordedAndAFileTransferIsAuditedOnly) {
  if (!asciinemaAvailable()) GTEST_SKIP() << "no " << kAsciinema << " (apt install asciinema)";
  grant(targetPort_);
  // scp's legacy protocol runs `scp -t` on the target: a file transfer,
  // audited, not recorded.
  std::string src = dir_ / "small.txt";
  std::ofstream(src) << "a file\n";
  auto up = testing::run(
      {"/usr/bin/scp", "-O", "-q", "-F", dir_ / "ssh_config", "-P", std::to_string(bastionPort_),
       "-o", "User=" + user_->name() + "@vm1", src, "127.0.0.1:" + user_->home() + "/small.txt"},
      dir_.path());
  ASSERT_EQ(up.exitCode, 0) << up.err;
  EXPECT_EQ(out({"recordings", "--json"}), "[]");
  auto a = audit();
  auto scp = a.find("exec: scp ");
  ASSERT_NE(scp, std::string::npos) << a;
  EXPECT_NE(a.find("small.txt", scp), std::string::npos) << a;

  // Any other command is recorded, stdout and stderr, a byte that is not
  // UTF-8 as U+FFFD.
  auto r = ssh("echo hello; printf x; printf '\\377\\n' >&2");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "hello\nx");
  std::string listed = out({"recordings", "--json"});
  std::string id = onlyId(listed);
  ASSERT_FALSE(id.empty()) << listed;
  EXPECT_NE(listed.find("\"channel\":\"exec\""), std::string::npos) << listed;
  EXPECT_NE(listed.find("\"closed\":true"), std::string::npos) << listed;
  std::string file = dir_ / ("state/recordings/" + id + ".cast");
  std::string cast = testing::slurp(file);
  EXPECT_NE(cast.find("\"command\": \"echo hello; printf x; printf '\\\\377\\\\n' >&2\""),
            std::string::npos)
      << cast;
  EXPECT_NE(cast.find("hello\\n"), std::string::npos) << cast;
  EXPECT_NE(cast.find("\xEF\xBF\xBD\\n"), std::string::npos) << cast;
  auto cat = asciinemaCat(dir_, file);
  EXPECT_EQ(cat.exitCode, 0) << cat.err;
  EXPECT_NE(cat.out.find("hello"), std::string::npos) << cat.out;
  EXPECT_NE(cat.out.find("x"), std::string::npos) << cat.out;
  auto v = jitctl({"recording", "verify", id});
  EXPECT_EQ(v.exitCode, 0) << v.err;
  EXPECT_NE(v.out.find(id + ": intact"), std::string::npos) << v.out;
  EXPECT_NE(audit().find("recording=" + id + " exec: echo hello"), std::string::npos) << audit();
}

TEST_F(SshRecordingsTest, ACommandWithoutAPtyMeetsTheSizeCap) {
  restartWithConfig("[recordings]\nmax_size = \"64K\"\n");
  grant(targetPort_);
  auto r = ssh("head -c 1000000 /dev/zero; sleep 20");
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("size cap"), std::string::npos) << r.err;
  EXPECT_LT(r.out.size(), 1000000u);
  EXPECT_TRUE(waitAudit("end=size_cap")) << audit();
}

TEST_F(SshRecordingsTest, RecordOffRecordsNothingAndIdsCannotNameOtherFiles) {
  restartWithConfig("[recordings]\nrecord = \"off\"\n");
  grant(targetPort_);
  ASSERT_EQ(ssh("echo unrecorded", {"-tt"}).exitCode, 0);
  EXPECT_EQ(out({"recordings", "--json"}), "[]");
  for (const char* bad : {"../jitgate.db", "s-0123456789abcdef-1/../../jitgate.db",
                          "s-0123456789ABCDEF-1", "%2e%2e"}) {
    auto r = jitctl({"recording", "export", bad, "-o", dir_ / "x"});
    EXPECT_NE(r.exitCode, 0) << bad;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "x")) << bad;
  }
  auto r = jitctl({"replay", "s-0123456789abcdef-1"});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("no recording s-0123456789abcdef-1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace jitgate
