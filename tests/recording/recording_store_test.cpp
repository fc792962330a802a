// recording_store and recorder: files named by session id with safe modes,
// whole lines on disk at every flush, the hash chain catching one changed
// byte, the cap, the budget, retention, and ids that can name nothing else.
#include "jitgate/recording/recording_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <fstream>

#include "../support/test_support.hpp"

namespace jitgate {
namespace {

using testing::TempDir;

const std::string kSession = "s-0123456789abcdef";

RecordingHeader header(const std::string& session = kSession) {
  RecordingHeader h;
  h.session = session;
  h.user = "alice";
  h.target = "vm1";
  h.grantId = "g-1";
  h.source = "127.0.0.1";
  h.channel = "exec";
  h.command = "echo \"hi\"";
  h.term = "xterm-256color";
  h.width = 100;
  h.height = 30;
  return h;
}

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

mode_t modeOf(const std::string& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

class RecordingStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<RecordingStore> open(RecordingSettings s = {}) {
    auto r = RecordingStore::open(dir_ / "recordings", s);
    EXPECT_TRUE(r) << (r ? "" : r.refusal().describe());
    return r ? std::move(*r) : nullptr;
  }
  TempDir dir_;
};

TEST_F(RecordingStoreTest, ARecordingIsAPlayableCastWithItsHeaderAndChain) {
  auto store = open();
  auto r = store->begin(header());
  ASSERT_TRUE(r) << r.refusal().describe();
  auto rec = std::move(*r);
  EXPECT_EQ(rec->id(), kSession + "-1");
  EXPECT_EQ(modeOf(dir_ / "recordings"), 0700u);
  std::string cast = dir_ / ("recordings/" + rec->id() + ".cast");
  EXPECT_EQ(modeOf(cast), 0600u);
  EXPECT_EQ(modeOf(dir_ / ("recordings/" + rec->id() + ".chain")), 0600u);
  rec->output("hello\r\n");
  rec->resize(120, 40);
  rec->input("typed");  // record = output: not kept
  auto sum = rec->close();
  EXPECT_EQ(sum.end, "closed");
  EXPECT_EQ(sum.digest.size(), 64u);
  std::string text = slurp(cast);
  EXPECT_EQ(text.find("{\"version\": 2, \"width\": 100, \"height\": 30"), 0u) << text;
  EXPECT_NE(text.find("\"command\": \"echo \\\"hi\\\"\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"user\": \"alice\", \"target\": \"vm1\", \"grant\": \"g-1\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(", \"o\", \"hello\\r\\n\"]\n"), std::string::npos) << text;
  EXPECT_NE(text.find(", \"r\", \"120x40\"]\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("typed"), std::string::npos) << text;

  auto info = store->find(sum.id);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->closed);
  EXPECT_EQ(info->command, "echo \"hi\"");
  EXPECT_EQ(info->session, kSession);
  auto check = store->check(sum.id);
  ASSERT_TRUE(check);
  EXPECT_EQ(check->state, RecordingCheck::State::Intact) << check->problem;
  EXPECT_EQ(check->finalDigest, sum.digest);
  // The next channel of the session gets the next name.
  auto second = store->begin(header());
  ASSERT_TRUE(second);
  EXPECT_EQ((*second)->id(), kSession + "-2");
}

TEST_F(RecordingStoreTest, InputIsKeptWithRecordAll) {
  auto store = open();
  auto h = header();
  h.mode = RecordMode::All;
  auto rec = store->begin(h).value();
  rec->input("pass\x7fword");
  auto id = rec->close().id;
  EXPECT_NE(slurp(dir_ / ("recordings/" + id + ".cast")).find(", \"i\", \"pass\\u007fword\"]"),
            std::string::npos);
}

TEST_F(RecordingStoreTest, OneChangedByteIsCaught) {
  auto store = open();
  auto rec = store->begin(header()).value();
  for (int i = 0; i < 2000; ++i) rec->output("line " + std::to_string(i) + "\r\n");
  auto sum = rec->close();
  EXPECT_GT(sum.chunks, 1u);
  std::string cast = dir_ / ("recordings/" + sum.id + ".cast");
  std::string text = slurp(cast);
  auto at = text.find("line 1234");
  ASSERT_NE(at, std::string::npos);
  text[at + 5] = '9';
  std::ofstream(cast, std::ios::binary | std::ios::trunc) << text;
  auto check = store->check(sum.id);
  ASSERT_TRUE(check);
  EXPECT_EQ(check->state, RecordingCheck::State::Altered);
  EXPECT_NE(check->problem.find("does not match its hash"), std::string::npos) << check->problem;
}

TEST_F(RecordingStoreTest, AnUnclosedRecordingIsIntactUpToItsLastFlush) {
  auto store = open();
  auto rec = store->begin(header()).value();
  rec->output("before the crash\r\n");
  rec->flushIfDue(std::chrono::steady_clock::now() + std::chrono::hours(1),
                  std::chrono::milliseconds(2000));
  rec->output("still buffered\r\n");
  std::string cast = dir_ / ("recordings/" + rec->id() + ".cast");
  std::string text = slurp(cast);  // what a kill -9 now would leave
  EXPECT_NE(text.find("before the crash"), std::string::npos);
  EXPECT_EQ(text.find("still buffered"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
  auto check = store->check(rec->id());
  ASSERT_TRUE(check);
  EXPECT_EQ(check->state, RecordingCheck::State::Incomplete);
  EXPECT_NE(check->problem.find("still being recorded"), std::string::npos) << check->problem;
}

TEST_F(RecordingStoreTest, TheSizeCapStopsTheRecordingWithTheCrossingEventKept) {
  RecordingSettings s;
  s.maxBytes = 64 * 1024;
  auto store = open(s);
  auto rec = store->begin(header()).value();
  std::string chunk(1000, 'x');
  int n = 0;
  while (rec->recording() && n < 1000) {
    rec->output(chunk);
    ++n;
  }
  EXPECT_FALSE(rec->recording());
  EXPECT_TRUE(rec->capReached());
  EXPECT_NE(rec->problem().find("size cap"), std::string::npos);
  auto sum = rec->close();
  EXPECT_EQ(sum.end, "size_cap");
  EXPECT_GE(sum.bytes, s.maxBytes);
  EXPECT_LT(sum.bytes, s.maxBytes + 2000);
  EXPECT_EQ(store->check(sum.id)->state, RecordingCheck::State::Intact);
  EXPECT_EQ(store->find(sum.id)->endReason, "size_cap");
}

TEST_F(RecordingStoreTest, OutputInQuickSuccessionIsOneEventPerBurst) {
  auto store = open();
  auto rec = store->begin(header()).value();
  // A program printing a character at a time: the reads come microseconds
  // apart, within one burst (10 ms), up to 16 KiB an event.
  for (int i = 0; i < 200; ++i) rec->output("ab");
  rec->resize(90, 30);  // ends the burst: events stay in order
  rec->output(std::string(40 * 1024, 'z'));
  auto id = rec->close().id;
  std::string text = slurp(dir_ / ("recordings/" + id + ".cast"));
  size_t events = 0, zs = 0;
  for (size_t at = text.find(", \"o\", \""); at != std::string::npos;
       at = text.find(", \"o\", \"", at + 1))
    ++events;
  for (char c : text) zs += c == 'z';
  size_t abs = 0;
  for (size_t at = text.find("ab", text.find('\n')); at != std::string::npos;
       at = text.find("ab", at + 2))
    ++abs;
  EXPECT_EQ(abs, 200u);
  EXPECT_LT(text.rfind("ab"), text.find(", \"r\", \"90x30\"]"));
  EXPECT_EQ(zs, 40u * 1024);
  EXPECT_LE(events, 1u + 3u + 2u) << text.substr(0, 2000);  // the ab burst, 40 KiB of z, slack
  EXPECT_EQ(store->check(id)->state, RecordingCheck::State::Intact);
}

TEST_F(RecordingStoreTest, TheBudgetRefusesWhatItHasNoRoomFor) {
  RecordingSettings s;
  s.maxBytes = 64 * 1024;
  s.budgetBytes = 128 * 1024;
  auto store = open(s);
  auto a = store->begin(header("s-0000000000000001"));
  auto b = store->begin(header("s-0000000000000002"));
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  // Two open ones may each reach the cap: no room for a third.
  auto c = store->begin(header("s-0000000000000003"));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.refusal().code, RefusalCode::Unavailable);
  EXPECT_NE(c.refusal().message.find("disk budget is full"), std::string::npos);
  (*a)->close();  // small once closed: room again
  (*b)->close();
  EXPECT_TRUE(store->begin(header("s-0000000000000004")));
}

TEST_F(RecordingStoreTest, RetentionRemovesOldRecordingsNotOpenOnes) {
  RecordingSettings s;
  s.retention = std::chrono::seconds(3600);
  auto store = open(s);
  auto old = store->begin(header("s-00000000000000aa")).value();
  std::string oldId = old->close().id;
  auto live = store->begin(header("s-00000000000000bb")).value();
  std::string base = dir_ / "recordings/";
  struct utimbuf past {
    1000000, 1000000
  };
  ::utime((base + oldId + ".cast").c_str(), &past);
  ::utime((base + live->id() + ".cast").c_str(), &past);
  auto removed = store->prune(std::chrono::system_clock::now());
  ASSERT_EQ(removed, std::vector<std::string>{oldId});
  EXPECT_FALSE(std::filesystem::exists(base + oldId + ".cast"));
  EXPECT_FALSE(std::filesystem::exists(base + oldId + ".chain"));
  EXPECT_TRUE(std::filesystem::exists(base + live->id() + ".cast"));
}

TEST_F(RecordingStoreTest, IdsNameRecordingsAndNothingElse) {
  for (const char* good : {"s-0123456789abcdef-1", "s-0123456789abcdef-999"})
    EXPECT_TRUE(RecordingStore::validId(good)) << good;
  for (const char* bad :
       {"", "s-0123456789abcdef", "s-0123456789abcdef-0", "s-0123456789abcdef-1000",
        "s-0123456789ABCDEF-1", "../../etc/passwd", "s-0123456789abcdef-1/../x",
        "s-0123456789abcde/-1", "s-0123456789abcdef-1.cast", "x-0123456789abcdef-1"})
    EXPECT_FALSE(RecordingStore::validId(bad)) << bad;
  auto store = open();
  auto r = store->cast("../jitgate.db");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.refusal().code, RefusalCode::InvalidArgument);
  auto missing = store->check("s-0123456789abcdef-7");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.refusal().code, RefusalCode::NotFound);
}

TEST_F(RecordingStoreTest, ListingFiltersAndSearchFindsAcrossRecordings) {
  auto store = open();
  auto a = store->begin(header("s-0000000000000001")).value();
  a->output("$ echo needle\r\nneedle\r\n");
  a->close();
  auto h = header("s-0000000000000002");
  h.user = "bob";
  auto b = store->begin(h).value();
  b->output("nothing here\r\n");
  b->close();
  EXPECT_EQ(store->list({}).size(), 2u);
  RecordingFilter f;
  f.user = "bob";
  auto bobs = store->list(f);
  ASSERT_EQ(bobs.size(), 1u);
  EXPECT_EQ(bobs[0].session, "s-0000000000000002");
  auto hits = store->search("NEEDLE", {}, 10);
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].id, "s-0000000000000001-1");
  EXPECT_EQ((*hits)[0].line, "$ echo needle");
  EXPECT_EQ((*hits)[1].line, "needle");
  EXPECT_EQ((*hits)[1].row, 1);
}

}  // namespace
}  // namespace jitgate
