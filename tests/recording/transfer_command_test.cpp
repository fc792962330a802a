// Which exec commands are file transfers (audited, not recorded): scp's and
// rsync's server ends exactly, nothing a shell could make more of.
#include "jitgate/recording/transfer_command.hpp"

#include <gtest/gtest.h>

namespace jitgate {
namespace {

TEST(TransferCommand, ScpAndRsyncServerEndsAreTransfers) {
  EXPECT_TRUE(fileTransferCommand("scp -t /tmp/x"));
  EXPECT_TRUE(fileTransferCommand("scp -r -d -t -- /home/alice/dir"));
  EXPECT_TRUE(fileTransferCommand("scp -f /etc/hostname"));
  EXPECT_TRUE(fileTransferCommand("/usr/bin/scp -v -f file.txt"));
  EXPECT_TRUE(fileTransferCommand("rsync --server -logDtpre.iLsfxCIvu . /srv/backup/"));
  EXPECT_TRUE(fileTransferCommand("rsync --server --sender -vlogDtpre.iLsfxCIvu . /etc/"));
}

TEST(TransferCommand, AnythingElseIsRecorded) {
  for (const char* c : {"",
                        "scp",
                        "scp /tmp/x",
                        "echo scp -t",
                        "tar c /etc",
                        "scpx -t a",
                        "scp -t a; rm -rf /",
                        "scp -f $(id)",
                        "scp -f `id`",
                        "scp -t a|sh",
                        "scp -t a&&id",
                        "scp -f 'a b'",
                        "scp -t a\nid",
                        "scp -f a>b",
                        "rsync -av . /x",
                        "rsync --server a; id",
                        "sh -c scp -t",
                        "scp\t-t x",
                        "/tmp/scp -t x",
                        "./scp -f a",
                        "bin/scp -t x",
                        "/home/alice/rsync --server .",
                        "/usr/local/bin/scp -t x"})
    EXPECT_FALSE(fileTransferCommand(c)) << c;
  EXPECT_FALSE(fileTransferCommand("scp -t " + std::string(5000, 'a')));
}

}  // namespace
}  // namespace jitgate
