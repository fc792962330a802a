// UniqueFd, the C handle aliases, the restricted-file reader and the atomic
// writer, on real files in a temporary directory.
#include "jitgate/files.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "../support/test_support.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/unique_fd.hpp"

namespace jitgate {
namespace {

using testing::TempDir;

bool isOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

void put(const std::string& path, const std::string& data, mode_t mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(UniqueFdTest, ClosesOnceWhenItsOwnerGoes) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    UniqueFd r(fds[0]), w(fds[1]);
    EXPECT_TRUE(r);
    EXPECT_EQ(r.get(), fds[0]);
    UniqueFd moved(std::move(w));
    EXPECT_FALSE(w);
    EXPECT_EQ(moved.get(), fds[1]);
    EXPECT_TRUE(isOpen(fds[1]));
  }
  EXPECT_FALSE(isOpen(fds[0]));
  EXPECT_FALSE(isOpen(fds[1]));
}

TEST(UniqueFdTest, ReleaseGivesUpAndResetReplaces) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd a(fds[0]);
  int raw = a.release();
  EXPECT_FALSE(a);
  EXPECT_TRUE(isOpen(raw));
  a.reset(raw);
  UniqueFd b(fds[1]);
  b = std::move(a);  // closes the write end, takes the read end
  EXPECT_FALSE(isOpen(fds[1]));
  EXPECT_EQ(b.get(), fds[0]);
  b.reset();
  EXPECT_FALSE(isOpen(fds[0]));
  EXPECT_EQ(b.get(), -1);
}

TEST(HandleTest, AliasesFreeWithTheirLibrary) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(bio);
  ASSERT_EQ(BIO_write(bio.get(), "x", 1), 1);
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_TRUE(key);
  SshKeyPtr none;  // a null handle is never passed to its free function
  SshSessionPtr session(ssh_new());
  ASSERT_TRUE(session);
  BignumPtr empty(nullptr);
  EXPECT_FALSE(empty);
  // ASan's leak check is the judge of the frees themselves.
}

TEST(RestrictedFileTest, ReadsAPrivateFile) {
  TempDir dir;
  put(dir / "key", "secret", 0600);
  auto data = readRestrictedFile(dir / "key", privateFileRules("key"));
  ASSERT_TRUE(data.ok()) << data.refusal().describe();
  EXPECT_EQ(*data, "secret");
}

TEST(RestrictedFileTest, RefusesAPrivateFileOthersMayRead) {
  TempDir dir;
  put(dir / "key", "secret", 0640);
  auto data = readRestrictedFile(dir / "key", privateFileRules("key"));
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.refusal().code, RefusalCode::Unavailable);
  EXPECT_EQ(data.refusal().field, "key");
  EXPECT_NE(data.refusal().message.find("readable by group or others"), std::string::npos);
}

TEST(RestrictedFileTest, RefusesASymlinkADirectoryAndAMissingFile) {
  TempDir dir;
  put(dir / "key", "secret", 0600);
  ASSERT_EQ(::symlink((dir / "key").c_str(), (dir / "link").c_str()), 0);
  EXPECT_FALSE(readRestrictedFile(dir / "link", privateFileRules("key")).ok());
  ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0700), 0);
  auto sub = readRestrictedFile(dir / "sub", privateFileRules("key"));
  ASSERT_FALSE(sub.ok());
  EXPECT_NE(sub.refusal().message.find("not a regular file"), std::string::npos);
  EXPECT_FALSE(readRestrictedFile(dir / "none", privateFileRules("key")).ok());
}

TEST(RestrictedFileTest, RefusesAFileOverTheLimit) {
  TempDir dir;
  auto rules = privateFileRules("key");
  put(dir / "big", std::string(rules.maxBytes + 1, 'x'), 0600);
  auto big = readRestrictedFile(dir / "big", rules);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.refusal().message.find("larger than 64 KiB"), std::string::npos);
  put(dir / "edge", std::string(rules.maxBytes, 'x'), 0600);
  EXPECT_TRUE(readRestrictedFile(dir / "edge", rules).ok());
}

TEST(RestrictedFileTest, RootFileRulesWantRootAndNoWriters) {
  TempDir dir;
  auto rules = rootFileRules("ca", RefusalCode::InvalidArgument);
  put(dir / "ca", "keys", 0644);
  auto ca = readRestrictedFile(dir / "ca", rules);
  if (::geteuid() == 0) {
    ASSERT_TRUE(ca.ok()) << ca.refusal().describe();
    EXPECT_EQ(*ca, "keys");
    ASSERT_EQ(::chown((dir / "ca").c_str(), 1, 1), 0);  // owned by someone else
    ca = readRestrictedFile(dir / "ca", rules);
  }
  ASSERT_FALSE(ca.ok());
  EXPECT_EQ(ca.refusal().code, RefusalCode::InvalidArgument);
  EXPECT_NE(ca.refusal().message.find("must be owned by root"), std::string::npos);
  if (::geteuid() != 0) return;
  ASSERT_EQ(::chown((dir / "ca").c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod((dir / "ca").c_str(), 0664), 0);
  EXPECT_FALSE(readRestrictedFile(dir / "ca", rules).ok()) << "group-writable";
}

TEST(AtomicWriteTest, WritesAndReplaces) {
  TempDir dir;
  ASSERT_TRUE(writeFileAtomically(dir / "f", "one", 0640).ok());
  EXPECT_EQ(slurp(dir / "f"), "one");
  ASSERT_TRUE(writeFileAtomically(dir / "f", "two", 0600).ok());
  EXPECT_EQ(slurp(dir / "f"), "two");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(::access((dir / "f.jitgate-tmp").c_str(), F_OK), 0) << "no temporary left";
}

TEST(AtomicWriteTest, NeverReplaceKeepsTheExistingFile) {
  TempDir dir;
  ASSERT_TRUE(writeFileAtomically(dir / "k", "first", 0600, Replace::Never).ok());
  auto again = writeFileAtomically(dir / "k", "second", 0600, Replace::Never);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.refusal().message.find("File exists"), std::string::npos);
  EXPECT_EQ(slurp(dir / "k"), "first");
  EXPECT_NE(::access((dir / "k.jitgate-tmp").c_str(), F_OK), 0) << "no temporary left";
}

TEST(AtomicWriteTest, DoesNotFollowAPlantedTemporaryLink) {
  TempDir dir;
  put(dir / "victim", "keep", 0600);
  ASSERT_EQ(::symlink((dir / "victim").c_str(), (dir / "f.jitgate-tmp").c_str()), 0);
  ASSERT_TRUE(writeFileAtomically(dir / "f", "new", 0600).ok());
  EXPECT_EQ(slurp(dir / "victim"), "keep");
  EXPECT_EQ(slurp(dir / "f"), "new");
}

TEST(AtomicWriteTest, RefusesAMissingDirectory) {
  TempDir dir;
  EXPECT_FALSE(writeFileAtomically(dir / "no/such/f", "x", 0600).ok());
}

}  // namespace
}  // namespace jitgate
