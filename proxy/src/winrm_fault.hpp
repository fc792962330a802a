// The bastion's own WinRM answers as WS-Man SOAP faults: pywinrm's Protocol
// and PowerShell show a fault's Reason text, where a plain-text body gives
// their users only "Code 403".
#pragma once

#include <string>
#include <string_view>

namespace jitgate {

// A SOAP 1.2 envelope whose Fault says `text` (XML-escaped), with a WS-Man
// fault detail of code 5 (access denied).
std::string wsmanFault(std::string_view text);

}  // namespace jitgate
