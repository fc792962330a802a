// wsman_command: the command line of a WS-Man Command request, as pywinrm
// and other clients send it, and everything else left alone.
#include "wsman_command.hpp"

#include <gtest/gtest.h>

namespace jitgate {
namespace {

std::string envelope(const std::string& action, const std::string& body) {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
         "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" "
         "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
         "xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\"><env:Header>"
         "<a:Action env:mustUnderstand=\"true\">" +
         action + "</a:Action><a:MessageID>uuid:1</a:MessageID></env:Header><env:Body>" + body +
         "</env:Body></env:Envelope>";
}
const std::string kCommand = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";

TEST(WsmanCommand, ReadsCommandAndArgumentsAsPywinrmSendsThem) {
  auto c = parseWsmanCommand(envelope(
      kCommand,
      "<rsp:CommandLine><rsp:Command>ipconfig</rsp:Command><rsp:Arguments>/all</rsp:Arguments>"
      "</rsp:CommandLine>"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->command, "ipconfig");
  ASSERT_EQ(c->arguments.size(), 1u);
  EXPECT_EQ(c->line(), "ipconfig /all");
}

TEST(WsmanCommand, SeveralArgumentsAnyPrefixAndEntities) {
  auto c = parseWsmanCommand(envelope(
      kCommand,
      "<w:CommandLine xmlns:w=\"x\"><w:Command>echo &quot;a&amp;b&quot; &lt;x&gt; &#233;&#x41;"
      "</w:Command><w:Arguments>one</w:Arguments><w:Arguments><![CDATA[<two>]]></w:Arguments>"
      "</w:CommandLine>"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->command,
            "echo \"a&b\" <x> \xC3\xA9"
            "A");
  EXPECT_EQ(c->arguments, (std::vector<std::string>{"one", "<two>"}));
}

TEST(WsmanCommand, OtherActionsAreNotCommands) {
  for (const char* a : {"http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive",
                        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"})
    EXPECT_FALSE(parseWsmanCommand(
        envelope(a, "<rsp:CommandLine><rsp:Command>x</rsp:Command></rsp:CommandLine>")))
        << a;
}

TEST(WsmanCommand, UnreadableBodiesAreNotCommands) {
  EXPECT_FALSE(parseWsmanCommand(""));
  EXPECT_FALSE(parseWsmanCommand("--Encrypted Boundary\r\n\x01\x02\x03"));
  EXPECT_FALSE(parseWsmanCommand(envelope(kCommand, "")));
  EXPECT_FALSE(parseWsmanCommand(envelope(kCommand, "<rsp:CommandLine><rsp:Command>x")));
  EXPECT_FALSE(parseWsmanCommand(envelope(kCommand,
                                          "<rsp:CommandLine><rsp:Command>a &bogus; b</rsp:Command>"
                                          "</rsp:CommandLine>")));
  EXPECT_FALSE(parseWsmanCommand(envelope(kCommand,
                                          "<rsp:CommandLine><rsp:Command>&#x110000;</rsp:Command>"
                                          "</rsp:CommandLine>")));
  // A truncated tag at the very end never reads past the body.
  std::string cut = envelope(kCommand, "<rsp:CommandLine><rsp:Command");
  EXPECT_FALSE(parseWsmanCommand(cut.substr(0, cut.size() - 25)));
}

TEST(WsmanCommand, AnEmptyCommandElementIsAnEmptyCommand) {
  auto c =
      parseWsmanCommand(envelope(kCommand, "<rsp:CommandLine><rsp:Command/></rsp:CommandLine>"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->line(), "");
}

}  // namespace
}  // namespace jitgate
