// What a WS-Man request asks a Windows shell to run: the command line and
// arguments of a Command (rsp:CommandLine), read from the relayed SOAP body
// for the audit log (session.command). Untrusted input: bounded, no XML
// library, anything it cannot read is "not a command".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jitgate {

struct WsmanCommand {
  std::string command;                 // rsp:Command, entities decoded
  std::vector<std::string> arguments;  // each rsp:Arguments, in order
  // "COMMAND ARG ARG", as the shell joins them.
  std::string line() const;
};

// The Command of a request whose wsa:Action is the WinRM shell's Command
// action; nullopt for any other request (Create, Receive, Signal, Delete),
// for an encrypted body and for XML it cannot read.
std::optional<WsmanCommand> parseWsmanCommand(std::string_view body);

}  // namespace jitgate
