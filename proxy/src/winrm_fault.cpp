// WS-Man SOAP faults for the bastion's own answers: see winrm_fault.hpp.
#include "winrm_fault.hpp"

namespace jitgate {

namespace {
// Character data: only & and < must be escaped (and > for "]]>").
std::string xmlEscaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}
}  // namespace

std::string wsmanFault(std::string_view text) {
  std::string t = xmlEscaped(text);
  return "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
         "xmlns:f=\"http://schemas.microsoft.com/wbem/wsman/1/wsmanfault\"><s:Body><s:Fault>"
         "<s:Code><s:Value>s:Sender</s:Value></s:Code>"
         "<s:Reason><s:Text xml:lang=\"en-US\">" +
         t +
         "</s:Text></s:Reason><s:Detail><f:WSManFault Code=\"5\" Machine=\"jitgate\">"
         "<f:Message>" +
         t + "</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>\n";
}

}  // namespace jitgate
