// jitgated's TOML configuration: a full file, the defaults, and every refusal
// (unknown keys, wrong types, bad values, syntax errors, a missing file).
#include "jitgate/proxy/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <string_view>

#include "../support/refusals.hpp"
#include "../support/test_support.hpp"

namespace jitgate {
namespace {

using testing::refused;

constexpr auto kInvalid = RefusalCode::InvalidArgument;
using Names = std::vector<std::string>;

class LoadConfig : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    std::string path = dir_ / "jitgated.toml";
    std::ofstream(path) << text;
    return path;
  }
  Result<DaemonConfig> load(const std::string& text) { return loadConfig(write(text)); }

  testing::TempDir dir_;
};

TEST_F(LoadConfig, FullFile) {
  auto c = load(R"(# jitgated configuration
state_dir = "/srv/jitgate/state"
control_socket = "/run/jg/control.sock"
control_socket_group = "jitgate-users"
log_level = "debug"

[roles]
admins = ["alice"]
admin_groups = ["wheel", "ops"]
requesters = ["bob"]
requester_groups = ["devs"]
readers = ["carol"]
reader_groups = ["auditors"]
security_readers = ["sam"]
security_reader_groups = ["sec"]
)");
  ASSERT_TRUE(c.ok()) << c.refusal().describe();
  EXPECT_EQ(c->stateDir, "/srv/jitgate/state");
  EXPECT_EQ(c->controlSocket, "/run/jg/control.sock");
  EXPECT_EQ(c->controlSocketGroup, "jitgate-users");
  EXPECT_EQ(c->logLevel, "debug");
  EXPECT_EQ(c->roles.admins.users, Names{"alice"});
  EXPECT_EQ(c->roles.admins.groups, (Names{"wheel", "ops"}));
  EXPECT_EQ(c->roles.requesters.users, Names{"bob"});
  EXPECT_EQ(c->roles.requesters.groups, Names{"devs"});
  EXPECT_EQ(c->roles.readers.users, Names{"carol"});
  EXPECT_EQ(c->roles.readers.groups, Names{"auditors"});
  EXPECT_EQ(c->roles.securityReaders.users, Names{"sam"});
  EXPECT_EQ(c->roles.securityReaders.groups, Names{"sec"});
}

TEST_F(LoadConfig, ControlConnectionLimits) {
  auto c =
      load("[control]\nmax_connections = 20\nmax_connections_per_uid = 3\nadmin_reserve = 5\n");
  ASSERT_TRUE(c.ok()) << c.refusal().describe();
  EXPECT_EQ(c->control.maxConnections, 20);
  EXPECT_EQ(c->control.maxConnectionsPerUid, 3);
  EXPECT_EQ(c->control.adminReserve, 5);
  EXPECT_TRUE(refused(load("[control]\nmax_connections = 8\nadmin_reserve = 8\n"), kInvalid,
                      "control.admin_reserve", "must be less than control.max_connections"));
  EXPECT_TRUE(refused(load("[control]\nmax_connections_per_uid = 0\n"), kInvalid,
                      "control.max_connections_per_uid"));
}

TEST_F(LoadConfig, EmptyFileGivesDefaults) {
  auto c = load("");
  ASSERT_TRUE(c.ok()) << c.refusal().describe();
  DaemonConfig d;
  EXPECT_EQ(c->stateDir, d.stateDir);
  EXPECT_EQ(c->controlSocket, d.controlSocket);
  EXPECT_EQ(c->controlSocketGroup, "");
  EXPECT_EQ(c->logLevel, "info");
  EXPECT_TRUE(c->roles.admins.users.empty());
  EXPECT_TRUE(c->roles.securityReaders.groups.empty());
}

TEST_F(LoadConfig, DottedKeysAndInlineTablesAreTheSameTable) {
  auto c = load("roles.readers = [\"carol\"]\n");
  ASSERT_TRUE(c.ok()) << c.refusal().describe();
  EXPECT_EQ(c->roles.readers.users, Names{"carol"});
  auto d = load("roles = { admins = [\"alice\"] }\n");
  ASSERT_TRUE(d.ok()) << d.refusal().describe();
  EXPECT_EQ(d->roles.admins.users, Names{"alice"});
}

TEST_F(LoadConfig, AllLogLevels) {
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    auto c = load(std::string("log_level = \"") + level + "\"\n");
    ASSERT_TRUE(c.ok()) << level << ": " << c.refusal().describe();
    EXPECT_EQ(c->logLevel, level);
  }
}

TEST_F(LoadConfig, RefusesUnknownTopLevelKeyNamingIt) {
  EXPECT_TRUE(refused(load("state_dir = \"/x\"\nstatedir = \"/y\"\n"), kInvalid, "statedir",
                      "unknown setting"));
  EXPECT_TRUE(
      refused(load("[sshd]\nlisten = \"0.0.0.0:2222\"\n"), kInvalid, "sshd", "unknown setting"));
}

TEST_F(LoadConfig, FrontSettings) {
  auto c = load(R"([ssh]
listen = "[::1]:2200"
login_grace_time = "20s"
max_unauthenticated = 10
max_per_source = 3
warn_before = "PT10M"
connect_timeout = "5s"
[winrm]
http_listen = "off"
https_listen = "127.0.0.1:0"
domain = "jit.example.com"
)");
  ASSERT_TRUE(c.ok()) << c.refusal().describe();
  ASSERT_TRUE(c->ssh.listen.has_value());
  EXPECT_EQ(c->ssh.listen->host, "::1");
  EXPECT_EQ(c->ssh.listen->port, 2200);
  EXPECT_EQ(c->ssh.listen->toString(), "[::1]:2200");
  EXPECT_EQ(c->ssh.loginGraceTime, std::chrono::seconds(20));
  EXPECT_EQ(c->ssh.maxUnauthenticated, 10);
  EXPECT_EQ(c->ssh.maxPerSource, 3);
  EXPECT_EQ(c->ssh.warnBefore, std::chrono::seconds(600));
  EXPECT_EQ(c->ssh.connectTimeout, std::chrono::seconds(5));
  EXPECT_FALSE(c->winrm.httpListen.has_value());
  EXPECT_EQ(c->winrm.httpsListen->toString(), "127.0.0.1:0");
  EXPECT_EQ(c->winrm.domain, "jit.example.com");
}

TEST_F(LoadConfig, FrontDefaults) {
  auto c = load("");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ssh.listen->toString(), "0.0.0.0:2222");
  EXPECT_EQ(c->winrm.httpListen->toString(), "0.0.0.0:5985");
  EXPECT_EQ(c->winrm.httpsListen->toString(), "0.0.0.0:5986");
  EXPECT_EQ(c->ssh.warnBefore, std::chrono::seconds(300));
}

TEST_F(LoadConfig, RefusesBadFrontSettings) {
  EXPECT_TRUE(refused(load("[ssh]\nlisten = \"localhost:22\"\n"), kInvalid, "ssh.listen",
                      "not an IP address"));
  EXPECT_TRUE(
      refused(load("[ssh]\nlisten = \"127.0.0.1\"\n"), kInvalid, "ssh.listen", "ADDR:PORT"));
  EXPECT_TRUE(
      refused(load("[ssh]\nlisten = \"127.0.0.1:65536\"\n"), kInvalid, "ssh.listen", "0 to 65535"));
  EXPECT_TRUE(refused(load("[ssh]\nlisten = \"::1:22\"\n"), kInvalid, "ssh.listen", "[V6]:PORT"));
  EXPECT_TRUE(refused(load("[ssh]\nlisten = 22\n"), kInvalid, "ssh.listen", "string"));
  EXPECT_TRUE(refused(load("[ssh]\nlogin_grace_time = \"0s\"\n"), kInvalid, "ssh.login_grace_time",
                      "between 1 and 600"));
  EXPECT_TRUE(refused(load("[ssh]\nlogin_grace_time = \"11m\"\n"), kInvalid, "ssh.login_grace_time",
                      "between 1 and 600"));
  auto noWarning = load("[ssh]\nwarn_before = \"0s\"\n");
  ASSERT_TRUE(noWarning.ok()) << noWarning.refusal().describe();
  EXPECT_EQ(noWarning->ssh.warnBefore, std::chrono::seconds(0));
  EXPECT_TRUE(refused(load("[ssh]\nlogin_grace_time = 30\n"), kInvalid, "ssh.login_grace_time",
                      "duration string"));
  EXPECT_TRUE(
      refused(load("[ssh]\nmax_per_source = 0\n"), kInvalid, "ssh.max_per_source", "from 1 to"));
  EXPECT_TRUE(refused(load("[ssh]\nmax_unauthenticated = \"5\"\n"), kInvalid,
                      "ssh.max_unauthenticated", "integer"));
  EXPECT_TRUE(refused(load("[ssh]\nwarn = \"5m\"\n"), kInvalid, "ssh.warn", "unknown setting"));
  EXPECT_TRUE(refused(load("[winrm]\ndomain = \"bad domain\"\n"), kInvalid, "winrm.domain", ""));
  EXPECT_TRUE(
      refused(parseListenAddress("1.2.3.4:x", "--ssh-listen"), kInvalid, "--ssh-listen", "port"));
  auto off = parseListenAddress("off", "--ssh-listen");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->has_value());
}

TEST_F(LoadConfig, RefusesUnknownRolesKeyNamingIt) {
  // "admin" for "admins": a typo in a security setting must not fall back.
  EXPECT_TRUE(
      refused(load("[roles]\nadmin = [\"alice\"]\n"), kInvalid, "roles.admin", "unknown setting"));
  EXPECT_TRUE(refused(load("[roles]\nadmins = [\"alice\"]\nsecurity_reader = [\"sam\"]\n"),
                      kInvalid, "roles.security_reader", "unknown setting"));
}

TEST_F(LoadConfig, RefusesWrongTypes) {
  EXPECT_TRUE(refused(load("state_dir = 5\n"), kInvalid, "state_dir", "must be a string"));
  EXPECT_TRUE(
      refused(load("control_socket = [\"/a\"]\n"), kInvalid, "control_socket", "must be a string"));
  EXPECT_TRUE(refused(load("control_socket_group = true\n"), kInvalid, "control_socket_group",
                      "must be a string"));
  EXPECT_TRUE(refused(load("log_level = 3\n"), kInvalid, "log_level", "must be a string"));
  EXPECT_TRUE(refused(load("roles = \"alice\"\n"), kInvalid, "roles", "must be a table"));
  EXPECT_TRUE(
      refused(load("[[roles]]\nadmins = [\"alice\"]\n"), kInvalid, "roles", "must be a table"));
  EXPECT_TRUE(refused(load("[roles]\nadmins = \"alice\"\n"), kInvalid, "roles.admins",
                      "must be an array of strings"));
  EXPECT_TRUE(refused(load("[roles]\nreader_groups = [\"a\", 5]\n"), kInvalid,
                      "roles.reader_groups", "must be an array of strings"));
  EXPECT_TRUE(refused(load("[roles]\nrequesters = [[\"bob\"]]\n"), kInvalid, "roles.requesters",
                      "must be an array of strings"));
}

TEST_F(LoadConfig, RefusesBadLogLevel) {
  for (const char* level : {"verbose", "INFO", "", "warning"})
    EXPECT_TRUE(refused(load(std::string("log_level = \"") + level + "\"\n"), kInvalid, "log_level",
                        "must be one of trace, debug, info, warn, error"))
        << level;
}

TEST_F(LoadConfig, SyntaxErrorNamesTheFileAndLine) {
  std::string path = write("# comment\nstate_dir = \"/x\"\ncontrol_socket = \"/unterminated\n");
  auto c = loadConfig(path);
  EXPECT_TRUE(refused(c, kInvalid, path, "at line 3"));
}

TEST_F(LoadConfig, DuplicateKeyIsASyntaxError) {
  std::string path = write("log_level = \"info\"\nlog_level = \"debug\"\n");
  EXPECT_TRUE(refused(loadConfig(path), kInvalid, path, "at line 2"));
}

TEST_F(LoadConfig, RefusesMissingFile) {
  std::string path = dir_ / "absent.toml";
  auto c = loadConfig(path);
  EXPECT_TRUE(refused(c, kInvalid, path, "cannot read"));
  EXPECT_TRUE(refused(c, kInvalid, path, "No such file"));
}

// A directory given by mistake must not read as an empty file (all defaults).
TEST_F(LoadConfig, RefusesADirectory) {
  EXPECT_TRUE(refused(loadConfig(dir_.path()), kInvalid, dir_.path(), "not a regular file"));
}

TEST_F(LoadConfig, WinrmSettings) {
  auto c = load(R"([winrm]
http_listen = "127.0.0.1:15985"
https_listen = "off"
domain = "jit.example"
tls_cert = "/etc/jitgate/winrm.crt"
tls_key = "/etc/jitgate/winrm.key"
upstream_ca_file = "/etc/jitgate/targets-ca.pem"
connect_timeout = "5s"
request_timeout = "2m"
response_timeout = "PT10M"
max_header_bytes = 32768
max_body_bytes = 1048576
max_connections = 100
)");
  ASSERT_TRUE(c.ok()) << c.refusal().describe();
  const auto& w = c->winrm;
  ASSERT_TRUE(w.httpListen);
  EXPECT_EQ(w.httpListen->toString(), "127.0.0.1:15985");
  EXPECT_FALSE(w.httpsListen);
  EXPECT_EQ(w.domain, "jit.example");
  EXPECT_EQ(w.tlsCert, "/etc/jitgate/winrm.crt");
  EXPECT_EQ(w.tlsKey, "/etc/jitgate/winrm.key");
  EXPECT_EQ(w.upstreamCaFile, "/etc/jitgate/targets-ca.pem");
  EXPECT_EQ(w.connectTimeout, std::chrono::seconds(5));
  EXPECT_EQ(w.requestTimeout, std::chrono::seconds(120));
  EXPECT_EQ(w.responseTimeout, std::chrono::seconds(600));
  EXPECT_EQ(w.maxHeaderBytes, 32768);
  EXPECT_EQ(w.maxBodyBytes, 1048576);
  EXPECT_EQ(w.maxConnections, 100);
}

TEST_F(LoadConfig, WinrmDefaults) {
  auto c = load("");
  ASSERT_TRUE(c.ok()) << c.refusal().describe();
  const auto& w = c->winrm;
  EXPECT_EQ(w.httpListen->toString(), "0.0.0.0:5985");
  EXPECT_EQ(w.httpsListen->toString(), "0.0.0.0:5986");
  EXPECT_TRUE(w.tlsCert.empty());
  EXPECT_TRUE(w.upstreamCaFile.empty());
  EXPECT_EQ(w.responseTimeout, std::chrono::seconds(300));
  EXPECT_EQ(w.maxHeaderBytes, 16 * 1024);
  EXPECT_EQ(w.maxBodyBytes, 4 * 1024 * 1024);
}

TEST_F(LoadConfig, WinrmRefusals) {
  EXPECT_TRUE(refused(load("[winrm]\nupstream_ca = \"/a\"\n"), kInvalid, "winrm.upstream_ca",
                      "unknown setting"));
  EXPECT_TRUE(
      refused(load("[winrm]\ntls_cert = \"/a.crt\"\n"), kInvalid, "winrm.tls_key", "go together"));
  EXPECT_TRUE(
      refused(load("[winrm]\ntls_key = \"/a.key\"\n"), kInvalid, "winrm.tls_cert", "go together"));
  EXPECT_TRUE(refused(load("[winrm]\nupstream_ca_file = \"ca.pem\"\n"), kInvalid,
                      "winrm.upstream_ca_file", "absolute path"));
  EXPECT_TRUE(refused(load("[winrm]\nmax_header_bytes = 10\n"), kInvalid, "winrm.max_header_bytes",
                      "integer from 1024"));
  EXPECT_TRUE(
      refused(load("[winrm]\nmax_body_bytes = \"4M\"\n"), kInvalid, "winrm.max_body_bytes"));
  EXPECT_TRUE(refused(load("[winrm]\nconnect_timeout = \"200s\"\n"), kInvalid,
                      "winrm.connect_timeout", "between 1 and 120"));
  EXPECT_TRUE(refused(load("[winrm]\nresponse_timeout = 30\n"), kInvalid, "winrm.response_timeout",
                      "duration"));
  EXPECT_TRUE(refused(load("[winrm]\nmax_connections = 0\n"), kInvalid, "winrm.max_connections"));
}

TEST_F(LoadConfig, WinrmTargetListeners) {
  auto c = load(R"([winrm]
http_listen = "127.0.0.1:5985"
[winrm.http_target_listen]
win1 = "127.0.0.1:15985"
win2 = "0.0.0.0:15987"
[winrm.https_target_listen]
win1 = "127.0.0.1:15986"
)");
  ASSERT_TRUE(c.ok()) << c.refusal().describe();
  const auto& w = c->winrm;
  ASSERT_EQ(w.httpTargetListen.size(), 2u);
  EXPECT_EQ(w.httpTargetListen[0].target, "win1");
  EXPECT_EQ(w.httpTargetListen[0].listen.toString(), "127.0.0.1:15985");
  EXPECT_EQ(w.httpTargetListen[1].target, "win2");
  ASSERT_EQ(w.httpsTargetListen.size(), 1u);
  EXPECT_EQ(w.httpsTargetListen[0].listen.toString(), "127.0.0.1:15986");
  EXPECT_TRUE(load("").value().winrm.httpTargetListen.empty());

  EXPECT_TRUE(refused(load("[winrm]\nhttp_target_listen = \"127.0.0.1:15985\"\n"), kInvalid,
                      "winrm.http_target_listen", "table of TARGET"));
  EXPECT_TRUE(refused(load("[winrm.http_target_listen]\n\"-x\" = \"127.0.0.1:1\"\n"), kInvalid,
                      "winrm.http_target_listen.-x", "not a target name"));
  EXPECT_TRUE(refused(load("[winrm.http_target_listen]\nwin1 = \"off\"\n"), kInvalid,
                      "winrm.http_target_listen.win1", "remove the line"));
  EXPECT_TRUE(refused(load("[winrm.http_target_listen]\nwin1 = 15985\n"), kInvalid,
                      "winrm.http_target_listen.win1", "must be a string"));
  EXPECT_TRUE(refused(load("[winrm.http_target_listen]\nwin1 = \"nowhere\"\n"), kInvalid,
                      "winrm.http_target_listen.win1"));
  EXPECT_TRUE(refused(load("[winrm.http_target_listen]\nwin1 = \"127.0.0.1:15985\"\n"
                           "[winrm.https_target_listen]\nwin2 = \"127.0.0.1:15985\"\n"),
                      kInvalid, "winrm.https_target_listen.win2", "already a WinRM listener"));
  EXPECT_TRUE(refused(load("[winrm]\nhttps_listen = \"127.0.0.1:5986\"\n"
                           "[winrm.http_target_listen]\nwin1 = \"127.0.0.1:5986\"\n"),
                      kInvalid, "winrm.http_target_listen.win1", "already a WinRM listener"));
}

TEST_F(LoadConfig, StoreSettings) {
  auto d = load("");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->store.url, "") << "SQLite by default";
  EXPECT_EQ(d->store.grace, std::chrono::seconds(60));
  auto c = load(R"([store]
url = "postgresql://jitgate:pw@db.example.org:5432/jitgate?sslmode=require"
grace = "90s"
)");
  ASSERT_TRUE(c.ok()) << c.refusal().describe();
  EXPECT_EQ(c->store.url, "postgresql://jitgate:pw@db.example.org:5432/jitgate?sslmode=require");
  EXPECT_EQ(c->store.grace, std::chrono::seconds(90));
  auto kv = load(R"([store]
url = "host=db.example.org dbname=jitgate"
)");
  EXPECT_TRUE(kv.ok()) << kv.refusal().describe();
}

TEST_F(LoadConfig, StoreRefusals) {
  EXPECT_TRUE(refused(load("[store]\nurl = \"/var/lib/jitgate/jitgate.db\"\n"), kInvalid,
                      "store.url", "postgresql://"));
  auto bad = load("[store]\nurl = \"postgresql://u:hunter2@h/db?bogus=1\"\n");
  EXPECT_TRUE(refused(bad, kInvalid, "store.url", "not a valid"));
  EXPECT_EQ(bad.refusal().message.find("hunter2"), std::string::npos) << bad.refusal().message;
  EXPECT_TRUE(refused(load("[store]\ngrace = \"2d\"\n"), kInvalid, "store.grace"));
  EXPECT_TRUE(refused(load("[store]\nhost = \"db\"\n"), kInvalid, "store.host"));
}

}  // namespace
}  // namespace jitgate
