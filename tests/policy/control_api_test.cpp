// The control API without a socket: routing, role checks before the body,
// requester scoping, refusals (with audit), and bad input.
#include "jitgate/control_api.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "../support/postgres.hpp"
#include "../support/test_support.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using http = boost::beast::http::verb;
using testing::TempDir;

Caller make(const std::string& name, Roles roles) {
  Caller c;
  c.uid = 1000;
  c.name = name;
  c.roles = roles;
  return c;
}

class ControlApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::openTestStore(dir_);
    engine_ = std::make_unique<GrantEngine>(*store_, clock_, io_);
    ASSERT_TRUE(engine_->start().ok());
    api_ = std::make_unique<ControlApi>(*engine_, "test");
    admin_ = make("root", Roles{.admin = true});
    requester_ = make("carol", Roles{.requester = true});
    reader_ = make("rita", Roles{.reader = true});
    secReader_ = make("sam", Roles{.securityReader = true});
    nobody_ = make("nobody", Roles{});
  }

  // What the server does: admit on the request line, then handle.
  ApiResponse call(const Caller& c, http m, const std::string& target,
                   const std::string& body = "") {
    if (auto refused = api_->admit(m, target, c)) return *refused;
    return api_->handle(m, target, body, c);
  }
  json::value parse(const ApiResponse& r) { return json::parse(r.body); }
  std::string errorField(const ApiResponse& r) {
    return json::value_to<std::string>(parse(r).at("error").at("field"));
  }

  void setUpTarget() {
    ASSERT_EQ(call(admin_, http::post, "/v1/targets",
                   R"({"name":"vm1","address":"10.0.0.5","os":"linux"})")
                  .status,
              201u);
    ASSERT_EQ(call(admin_, http::put, "/v1/targets/vm1/policy",
                   R"({"ports":[{"number":22,"allowedSourceAddressPrefixes":["10.0.0.0/8"]}]})")
                  .status,
              200u);
  }

  TempDir dir_;
  testing::FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  boost::asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<GrantEngine> engine_;
  std::unique_ptr<ControlApi> api_;
  Caller admin_, requester_, reader_, secReader_, nobody_;
};

TEST_F(ControlApiTest, RolesAreCheckedOnTheRequestLine) {
  // 403 comes from admit() alone: the body is never looked at.
  auto r = api_->admit(http::post, "/v1/grants", requester_);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403u);
  EXPECT_TRUE(api_->admit(http::get, "/v1/targets", nobody_).has_value());
  EXPECT_FALSE(api_->admit(http::get, "/v1/whoami", nobody_).has_value());
  EXPECT_EQ(api_->admit(http::get, "/v1/audit", requester_)->status, 403u);
  EXPECT_FALSE(api_->admit(http::get, "/v1/audit", reader_).has_value());
  EXPECT_EQ(api_->admit(http::get, "/v1/users", reader_)->status, 403u);
  EXPECT_FALSE(api_->admit(http::get, "/v1/users", secReader_).has_value());
  EXPECT_EQ(api_->admit(http::post, "/v1/requests", reader_)->status, 403u);
  EXPECT_FALSE(api_->admit(http::post, "/v1/requests", requester_).has_value());
  EXPECT_EQ(api_->admit(http::delete_, "/v1/targets/vm1", secReader_)->status, 403u);
  // And every 403 is in the audit log with who asked.
  auto audit = store_->audit({}).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit[0].actor, "carol");
  EXPECT_EQ(audit[0].action, "grant.create");
  EXPECT_EQ(audit[0].outcome, "denied");
}

TEST_F(ControlApiTest, UnknownRoutesAndMethods) {
  EXPECT_EQ(call(admin_, http::get, "/v2/targets").status, 404u);
  EXPECT_EQ(call(admin_, http::get, "/v1/nothing").status, 404u);
  EXPECT_EQ(call(admin_, http::patch, "/v1/targets").status, 405u);
  EXPECT_EQ(call(admin_, http::get, "/v1/targets?bogus=1").status, 400u);
  EXPECT_EQ(call(admin_, http::get, "/v1/targets", "{}").status, 400u);
}

TEST_F(ControlApiTest, GrantLifecycle) {
  setUpTarget();
  auto g =
      call(admin_, http::post, "/v1/grants",
           R"({"user":"alice","target":"vm1","port":22,"source":"10.1.0.0/16","duration":"PT1H"})");
  ASSERT_EQ(g.status, 201u) << g.body;
  auto id = json::value_to<std::string>(parse(g).at("id"));
  EXPECT_EQ(parse(g).at("endTimeUtc").as_string(), "2026-11-23T13:00:00Z");
  auto d = call(reader_, http::get, "/v1/decision?user=alice&target=vm1&port=22&source=10.1.0.9");
  ASSERT_EQ(d.status, 200u);
  EXPECT_TRUE(parse(d).at("allowed").as_bool());
  auto revoked = call(admin_, http::post, "/v1/grants/" + id + "/revoke");
  ASSERT_EQ(revoked.status, 200u) << revoked.body;
  EXPECT_EQ(parse(revoked).at("state").as_string(), "revoked");
  EXPECT_EQ(call(admin_, http::delete_, "/v1/grants/" + id).status, 409u);
  d = call(reader_, http::get, "/v1/decision?user=alice&target=vm1&port=22&source=10.1.0.9");
  EXPECT_FALSE(parse(d).at("allowed").as_bool());
}

TEST_F(ControlApiTest, BadGrantInputNamesTheField) {
  setUpTarget();
  struct Case {
    const char* body;
    unsigned status;
    const char* field;
  } cases[] = {
      {R"({"user":"alice","target":"vm1","port":0,"source":"10.0.0.0/8","duration":"1h"})", 400,
       "port"},
      {R"({"user":"alice","target":"vm1","port":65536,"source":"10.0.0.0/8","duration":"1h"})", 400,
       "port"},
      {R"({"user":"alice","target":"vm1","port":22,"source":"10.0.0.1/8","duration":"1h"})", 400,
       "source"},
      {R"({"user":"alice","target":"vm1","port":22,"source":"10.0.0.0/8","duration":"4h"})", 422,
       "duration"},
      {R"({"user":"alice","target":"vm1","port":22,"source":"10.0.0.0/8","duration":"1y"})", 400,
       "duration"},
      {R"({"user":"alice","target":"vm1","port":22,"source":"0.0.0.0/0","duration":"1h"})", 422,
       "source"},
      {R"({"user":"alice","target":"vm1","port":22,"source":"10.0.0.0/8","endTimeUtc":"2020-01-01T00:00:00Z"})",
       400, "endTimeUtc"},
      {R"({"user":"alice","target":"vm1","port":22,"source":"10.0.0.0/8","duration":"1h","colour":"red"})",
       400, "colour"},
      {R"({"user":"alice","target":"vm1","port":22.5,"source":"10.0.0.0/8","duration":"1h"})", 400,
       "port"},
      {R"({"user":"alice","target":"vm1","port":99999999999999999999,"source":"10.0.0.0/8","duration":"1h"})",
       400, "port"},
      {R"({"user":"alice","target":"vm1","port":"22","source":"10.0.0.0/8","duration":"1h"})", 400,
       "port"},
      {R"({"user":"alice","user":"bob","target":"vm1","port":22,"source":"10.0.0.0/8","duration":"1h"})",
       400, "body"},
      {R"({"user":"alice","target":"vm1","port":22,"source":"10.0.0.0/8","duration":"1h")", 400,
       "body"},
      {"{\"user\":\"al\xff\",\"target\":\"vm1\",\"port\":22,\"source\":\"10.0.0.0/"
       "8\",\"duration\":\"1h\"}",
       400, "body"},
      {R"({"user":"al\u0000ice","target":"vm1","port":22,"source":"10.0.0.0/8","duration":"1h"})",
       400, "user"},
      {R"([1,2,3])", 400, "body"},
      {"", 400, "body"},
  };
  for (const auto& c : cases) {
    auto r = call(admin_, http::post, "/v1/grants", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    if (r.status >= 400) {
      EXPECT_EQ(errorField(r), c.field) << c.body << " -> " << r.body;
    }
  }
  EXPECT_EQ(engine_->activeGrantCount(), 0u);
  // Each refusal was audited.
  size_t denied = 0;
  for (const auto& e : store_->audit({}).value())
    if (e.action == "grant.create" && e.outcome == "denied") ++denied;
  EXPECT_EQ(denied, std::size(cases));
}

TEST_F(ControlApiTest, RequestersSeeOnlyTheirOwn) {
  setUpTarget();
  ASSERT_EQ(
      call(admin_, http::post, "/v1/grants",
           R"({"user":"alice","target":"vm1","port":22,"source":"10.1.0.0/16","duration":"1h"})")
          .status,
      201u);
  auto req = call(
      requester_, http::post, "/v1/requests",
      R"({"target":"vm1","ports":[{"number":22,"source":"10.9.9.9","duration":"30m"}],"justification":"oncall"})");
  ASSERT_EQ(req.status, 201u) << req.body;
  EXPECT_EQ(parse(req).at("requester").as_string(), "carol");
  EXPECT_EQ(parse(req).at("state").as_string(), "approved");

  auto mine = parse(call(requester_, http::get, "/v1/grants")).as_array();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].at("user").as_string(), "carol");
  auto all = parse(call(reader_, http::get, "/v1/grants")).as_array();
  EXPECT_EQ(all.size(), 2u);
  // Someone else's grant is "not found" to a requester.
  std::string aliceGrant;
  for (const auto& g : all)
    if (g.at("user").as_string() == "alice") aliceGrant = json::value_to<std::string>(g.at("id"));
  EXPECT_EQ(call(requester_, http::get, "/v1/grants/" + aliceGrant).status, 404u);
  EXPECT_EQ(call(reader_, http::get, "/v1/grants/" + aliceGrant).status, 200u);
  // A request for a port the policy lacks names the port.
  auto bad = call(
      requester_, http::post, "/v1/requests",
      R"({"target":"vm1","ports":[{"number":3389,"source":"10.9.9.9","duration":"30m"}],"justification":"x"})");
  EXPECT_EQ(bad.status, 422u);
  EXPECT_EQ(errorField(bad), "ports[0].number");
}

TEST_F(ControlApiTest, RequestersDoNotSeeWhoUsedATargetLast) {
  setUpTarget();
  AuditEntry connect;
  connect.actor = "ssh-front";
  connect.action = "session.connect";
  connect.outcome = "ok";
  connect.target = "vm1";
  connect.user = "alice";
  connect.source = "10.0.0.1";
  ASSERT_TRUE(engine_->record(connect).ok());
  auto asReader = parse(call(reader_, http::get, "/v1/targets/vm1"));
  EXPECT_EQ(asReader.at("lastUser").as_string(), "alice");
  auto asRequester = parse(call(requester_, http::get, "/v1/targets/vm1"));
  EXPECT_EQ(asRequester.at("lastUser").as_string(), "");
  EXPECT_EQ(asRequester.at("lastSource").as_string(), "");
  EXPECT_FALSE(asRequester.at("lastAccessUtc").is_null());
  auto list = parse(call(requester_, http::get, "/v1/targets")).as_array();
  EXPECT_EQ(list[0].at("lastUser").as_string(), "");
}

TEST_F(ControlApiTest, QueryParametersOnlyWhereDocumented) {
  setUpTarget();
  auto r =
      call(admin_, http::post, "/v1/grants?dryRun=1",
           R"({"user":"alice","target":"vm1","port":22,"source":"10.1.0.0/16","duration":"1h"})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(errorField(r), "dryRun");
  EXPECT_EQ(engine_->activeGrantCount(), 0u);
  EXPECT_EQ(call(reader_, http::get, "/v1/audit?limit=1000001").status, 400u);
  EXPECT_EQ(call(reader_, http::get, "/v1/audit?limit=1000000").status, 200u);
}

TEST_F(ControlApiTest, PathNamesAreValidatedAndNotEchoed) {
  auto r = call(reader_, http::get, "/v1/targets/%FF%1B%5B31m");
  EXPECT_EQ(r.status, 400u);
  boost::system::error_code ec;
  json::parse(r.body, ec);  // strict parser: the answer is valid UTF-8
  EXPECT_FALSE(ec) << r.body;
  auto audit = store_->audit({}).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().target, "");
}

TEST_F(ControlApiTest, AuditCsvNeutralisesFormulas) {
  setUpTarget();
  ASSERT_EQ(
      call(
          admin_, http::post, "/v1/grants",
          R"j({"user":"alice","target":"vm1","port":22,"source":"10.1.0.0/16","duration":"1h","justification":"=HYPERLINK(\"x\")"})j")
          .status,
      201u);
  auto csv = call(reader_, http::get, "/v1/audit?format=csv&target=vm1");
  ASSERT_EQ(csv.status, 200u);
  EXPECT_EQ(csv.contentType.rfind("text/csv", 0), 0u);
  EXPECT_EQ(csv.body.rfind("seq,time_utc,actor,action", 0), 0u);
  EXPECT_NE(csv.body.find("\r\n"), std::string::npos);
  // The justification is inside the detail cell, not at its start; the
  // cell is quoted because of the embedded quotes.
  EXPECT_NE(csv.body.find("\"\"x\"\""), std::string::npos);
  EXPECT_EQ(call(reader_, http::get, "/v1/audit?since=garbage").status, 400u);
  EXPECT_EQ(call(reader_, http::get, "/v1/audit?since=24h").status, 200u);
  EXPECT_EQ(call(reader_, http::get, "/v1/audit?limit=0").status, 400u);
  EXPECT_EQ(call(reader_, http::get, "/v1/audit?format=xml").status, 400u);
  auto limited = parse(call(reader_, http::get, "/v1/audit?limit=1")).as_array();
  EXPECT_EQ(limited.size(), 1u);
}

TEST_F(ControlApiTest, PolicyInputValidation) {
  ASSERT_EQ(
      call(admin_, http::post, "/v1/targets", R"({"name":"vm1","address":"10.0.0.5","os":"linux"})")
          .status,
      201u);
  auto udp = call(admin_, http::put, "/v1/targets/vm1/policy",
                  R"({"ports":[{"number":53,"protocol":"udp"}]})");
  EXPECT_EQ(udp.status, 400u);
  EXPECT_EQ(errorField(udp), "ports[0].protocol");
  auto longMax = call(admin_, http::put, "/v1/targets/vm1/policy",
                      R"({"ports":[{"number":22,"maxRequestAccessDuration":"P2D"}]})");
  EXPECT_EQ(longMax.status, 400u);
  EXPECT_EQ(errorField(longMax), "ports[0].maxRequestAccessDuration");
  auto shortMax = call(admin_, http::put, "/v1/targets/vm1/policy",
                       R"({"ports":[{"number":22,"maxRequestAccessDuration":"PT4M"}]})");
  EXPECT_EQ(shortMax.status, 400u);
  auto badOs = call(admin_, http::post, "/v1/targets",
                    R"({"name":"vm2","address":"10.0.0.6","os":"plan9"})");
  EXPECT_EQ(badOs.status, 400u);
  EXPECT_EQ(errorField(badOs), "os");
  auto badName = call(admin_, http::post, "/v1/targets",
                      R"({"name":"vm\u001b[31m","address":"10.0.0.6","os":"linux"})");
  EXPECT_EQ(badName.status, 400u);
  EXPECT_EQ(errorField(badName), "name");
  auto ok = call(admin_, http::put, "/v1/targets/vm1/policy", "");
  ASSERT_EQ(ok.status, 200u);
  EXPECT_EQ(parse(ok).at("ports").as_array()[0].at("number").as_int64(), 22);
  EXPECT_EQ(call(admin_, http::put, "/v1/targets/nope/policy", "").status, 404u);
}

// Live sessions through the API, over a LiveSessions of two sessions:
// readers see them, only admins end one, the kill is audited.
struct TwoSessions final : LiveSessions {
  std::vector<LiveSession> sessions;
  std::vector<std::string> killed;
  std::vector<LiveSession> list() const override { return sessions; }
  Result<LiveSession> kill(const std::string& id, const std::string& by,
                           const std::string& reason) override {
    for (const auto& s : sessions)
      if (s.id == id) {
        killed.push_back(id + " by " + by + ": " + reason);
        return s;
      }
    return Refusal{RefusalCode::NotFound, "session", "no live session " + id};
  }
};

TEST_F(ControlApiTest, LiveSessionsAreSeenByReadersAndEndedByAdmins) {
  TwoSessions live;
  LiveSession a;
  a.id = "s-0123456789abcdef";
  a.front = "ssh";
  a.user = "alice";
  a.target = "vm1";
  a.port = 22;
  a.grantId = "g-1";
  LiveSession b = a;
  b.id = "s-fedcba9876543210";
  b.user = "bob";
  b.front = "ssh-forward";
  live.sessions = {a, b};
  // Without fronts: said so, not an empty list.
  EXPECT_EQ(call(reader_, http::get, "/v1/sessions").status, 503u);
  api_->serveSessions(&live);

  auto r = call(reader_, http::get, "/v1/sessions?user=bob");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto list = parse(r).as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("id"), "s-fedcba9876543210");
  EXPECT_EQ(list[0].at("mode"), "forwarding");
  EXPECT_EQ(call(secReader_, http::get, "/v1/sessions").status, 200u);
  EXPECT_EQ(call(requester_, http::get, "/v1/sessions").status, 403u);

  EXPECT_EQ(call(reader_, http::post, "/v1/sessions/s-0123456789abcdef/kill").status, 403u);
  EXPECT_TRUE(live.killed.empty());
  r = call(admin_, http::post, "/v1/sessions/s-0123456789abcdef/kill",
           R"({"reason":"maintenance"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(live.killed, (std::vector<std::string>{"s-0123456789abcdef by root: maintenance"}));
  EXPECT_EQ(call(admin_, http::post, "/v1/sessions/s-nope/kill").status, 404u);
  EXPECT_EQ(call(admin_, http::post, "/v1/sessions/s-0123456789abcdef/kill", R"({"why":1})").status,
            400u);
  AuditQuery q;
  auto entries = engine_->audit(q).value();
  bool seen = false;
  for (const auto& e : entries)
    if (e.action == "session.kill" && e.outcome == "ok" && e.user == "alice" &&
        e.detail.find("session=s-0123456789abcdef") != std::string::npos &&
        e.detail.find("reason: maintenance") != std::string::npos)
      seen = true;
  EXPECT_TRUE(seen);
}

// Recordings through the API, over a Recordings of one: readers and security
// readers see and read them, requesters and nobody do not; reads are
// audited; the verification weighs the audit log's digest.
struct OneRecording final : Recordings {
  RecordingInfo info;
  RecordingCheck checked;
  std::vector<RecordingInfo> list(const RecordingFilter& f) const override {
    if (!f.user.empty() && f.user != info.user) return {};
    return {info};
  }
  Result<RecordingInfo> find(const std::string& id) const override {
    if (id != info.id) return Refusal{RefusalCode::NotFound, "id", "no recording " + id};
    return info;
  }
  Result<std::string> cast(const std::string& id) const override {
    if (id != info.id) return Refusal{RefusalCode::NotFound, "id", "no recording " + id};
    return std::string("{\"version\": 2}\n");
  }
  Result<RecordingCheck> check(const std::string&) const override { return checked; }
  Result<std::vector<ScreenHit>> search(const std::string& text, const RecordingFilter&,
                                        size_t) const override {
    return std::vector<ScreenHit>{{info.id, 1.5, 3, "$ " + text}};
  }
};

TEST_F(ControlApiTest, RecordingsAreSeenByReadersAndVerifiedAgainstTheAuditLog) {
  OneRecording rec;
  rec.info.id = "s-0123456789abcdef-1";
  rec.info.session = "s-0123456789abcdef";
  rec.info.user = "alice";
  rec.info.target = "vm1";
  rec.info.started =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  rec.checked.state = RecordingCheck::State::Intact;
  rec.checked.finalDigest = std::string(64, 'a');
  rec.checked.digest = rec.checked.finalDigest;
  EXPECT_EQ(call(reader_, http::get, "/v1/recordings").status, 503u);
  api_->serveRecordings(&rec);

  auto r = call(reader_, http::get, "/v1/recordings?user=alice&since=1h");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(parse(r).as_array()[0].at("id"), "s-0123456789abcdef-1");
  EXPECT_EQ(call(secReader_, http::get, "/v1/recordings/s-0123456789abcdef-1/cast").status, 200u);
  for (const auto* who : {&requester_, &nobody_}) {
    EXPECT_EQ(call(*who, http::get, "/v1/recordings").status, 403u);
    EXPECT_EQ(call(*who, http::get, "/v1/recordings/s-0123456789abcdef-1/cast").status, 403u);
    EXPECT_EQ(call(*who, http::get, "/v1/recordings/search?text=x").status, 403u);
  }
  EXPECT_EQ(call(reader_, http::get, "/v1/recordings/..%2fjitgate.db/cast").status, 400u);
  EXPECT_EQ(call(reader_, http::get, "/v1/recordings?since=yesterday").status, 400u);
  EXPECT_EQ(call(reader_, http::get, "/v1/recordings/search").status, 400u);
  auto hits = call(reader_, http::get, "/v1/recordings/search?text=rm%20-rf");
  ASSERT_EQ(hits.status, 200u) << hits.body;
  EXPECT_EQ(parse(hits).as_array()[0].at("line"), "$ rm -rf");

  // No digest in the audit log yet: not confirmed.
  auto v = parse(call(reader_, http::get, "/v1/recordings/s-0123456789abcdef-1/verify"));
  EXPECT_EQ(v.at("state"), "incomplete");
  AuditEntry closed;
  closed.actor = "alice";
  closed.action = "session.recording";
  closed.outcome = "ok";
  closed.target = "vm1";
  closed.detail = "front=ssh session=s-0123456789abcdef recording=s-0123456789abcdef-1 sha256=" +
                  std::string(64, 'b') + " bytes=1 chunks=1 end=closed";
  ASSERT_TRUE(engine_->record(closed));
  v = parse(call(reader_, http::get, "/v1/recordings/s-0123456789abcdef-1/verify"));
  EXPECT_EQ(v.at("state"), "altered") << v;
  closed.detail = "front=ssh session=s-0123456789abcdef recording=s-0123456789abcdef-1 sha256=" +
                  std::string(64, 'a') + " bytes=1 chunks=1 end=closed";
  ASSERT_TRUE(engine_->record(closed));
  v = parse(call(reader_, http::get, "/v1/recordings/s-0123456789abcdef-1/verify"));
  EXPECT_EQ(v.at("state"), "intact") << v;

  bool read = false, searched = false;
  for (const auto& e : engine_->audit(AuditQuery{}).value()) {
    read |= e.action == "recording.read" && e.actor == "sam" &&
            e.detail.find("recording=s-0123456789abcdef-1") != std::string::npos;
    searched |= e.action == "recording.search" && e.detail.find("text: rm -rf") == 0;
  }
  EXPECT_TRUE(read);
  EXPECT_TRUE(searched);
}

}  // namespace
}  // namespace jitgate
