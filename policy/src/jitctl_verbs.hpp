// jitctl's verbs: the arguments the command line fills in, and the verbs
// that do more than one call and a table (files written, keys read, answers
// checked). jitctl_main.cpp wires them to the command line.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "jitgate/cli_call.hpp"

namespace jitgate::jitctl {

namespace json = boost::json;

struct Window {
  std::string forDuration;
  std::string until;

  // Exactly one of --for and --until; false when neither was given.
  bool addTo(json::object& o) const {
    if (!forDuration.empty()) o["duration"] = forDuration;
    if (!until.empty()) o["endTimeUtc"] = until;
    return !forDuration.empty() || !until.empty();
  }
};

struct Args {
  std::string name, target, user, id;
  // sessions, session kill
  std::string grant, killReason;
  // target add
  std::string address, os;
  std::optional<int> sshPort, winrmHttpPort, winrmHttpsPort;
  // policy enable
  std::vector<int> ports;
  std::vector<std::string> from;
  std::string max;
  bool requireApproval = false;
  std::optional<int> minPrefixV4, minPrefixV6;
  // grant, request, check
  int port = 0;
  std::string source;
  bool myIp = false;
  Window window;
  std::string justification;
  bool allowAnySource = false;
  // listings
  bool active = false;
  std::string state, since, reason;
  std::optional<int> limit;
  bool csv = false;
  // user add
  std::vector<std::string> keyFiles;
  // cert, ca
  std::string pubkey, out, algorithm;
  bool ssh = false, x509 = false;
};

int certSsh(const cli::Context& ctx, const Args& a);
int certX509(const cli::Context& ctx, const Args& a);
int caExport(const cli::Context& ctx, const Args& a);
int caKrl(const cli::Context& ctx, const Args& a);
int addTarget(const cli::Context& ctx, const Args& a);
int enablePolicy(const cli::Context& ctx, const Args& a);
int createGrant(const cli::Context& ctx, const Args& a);
int createRequest(const cli::Context& ctx, const Args& a);
int check(const cli::Context& ctx, const Args& a);
int addUser(const cli::Context& ctx, const Args& a);
int audit(const cli::Context& ctx, const Args& a);
// stdout is the bare id, for `id=$(jitctl grant ...)`.
int printId(std::ostream& out, const json::value& v);
// Prints one line for the verbs whose answer is a confirmation.
cli::Render say(std::string line);

}  // namespace jitgate::jitctl
