// Reads the command line out of a WS-Man Command request (wsman_command.hpp).
// A scan for elements by local name (any namespace prefix), not a full XML
// parser: enough for what WinRM clients send, and it never reads past the body.
#include "wsman_command.hpp"

#include <cstdint>

namespace jitgate {
namespace {

constexpr std::string_view kCommandAction =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
constexpr size_t kMaxArguments = 256;

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Character data with XML's entities and character references decoded; a
// CDATA section is taken as it is. nullopt on markup inside or a bad entity.
std::optional<std::string> decodeText(std::string_view raw) {
  std::string out;
  for (size_t i = 0; i < raw.size();) {
    if (raw.compare(i, 9, "<![CDATA[") == 0) {
      size_t end = raw.find("]]>", i + 9);
      if (end == std::string_view::npos) return std::nullopt;
      out.append(raw.substr(i + 9, end - i - 9));
      i = end + 3;
      continue;
    }
    char c = raw[i];
    if (c == '<') return std::nullopt;
    if (c != '&') {
      out += c;
      ++i;
      continue;
    }
    size_t semi = raw.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) return std::nullopt;
    std::string_view ent = raw.substr(i + 1, semi - i - 1);
    if (ent == "lt")
      out += '<';
    else if (ent == "gt")
      out += '>';
    else if (ent == "amp")
      out += '&';
    else if (ent == "quot")
      out += '"';
    else if (ent == "apos")
      out += '\'';
    else if (ent.size() >= 2 && ent[0] == '#') {
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::string_view digits = ent.substr(hex ? 2 : 1);
      if (digits.empty()) return std::nullopt;
      uint32_t cp = 0;
      for (char d : digits) {
        int v;
        if (d >= '0' && d <= '9')
          v = d - '0';
        else if (hex && d >= 'a' && d <= 'f')
          v = d - 'a' + 10;
        else if (hex && d >= 'A' && d <= 'F')
          v = d - 'A' + 10;
        else
          return std::nullopt;
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        if (cp > 0x10FFFF) return std::nullopt;
      }
      appendUtf8(out, cp);
    } else {
      return std::nullopt;
    }
    i = semi + 1;
  }
  return out;
}

// The next element whose local name is `name`, from `from` on: its content
// (empty for <x/>) and where the scan goes on. nullopt when there is none,
// or when it is not closed.
struct Element {
  std::string_view content;
  size_t next;
};
std::optional<Element> findElement(std::string_view xml, std::string_view name, size_t from) {
  for (size_t i = xml.find('<', from); i != std::string_view::npos; i = xml.find('<', i + 1)) {
    size_t n = i + 1;
    if (n < xml.size() && (xml[n] == '/' || xml[n] == '?' || xml[n] == '!')) continue;
    size_t nameEnd = n;
    while (nameEnd < xml.size() && (isNameChar(xml[nameEnd]) || xml[nameEnd] == ':')) ++nameEnd;
    std::string_view qname = xml.substr(n, nameEnd - n);
    size_t colon = qname.rfind(':');
    std::string_view local = colon == std::string_view::npos ? qname : qname.substr(colon + 1);
    if (local != name) continue;
    if (nameEnd >= xml.size() ||
        !(xml[nameEnd] == '>' || xml[nameEnd] == '/' || xml[nameEnd] == ' ' ||
          xml[nameEnd] == '\t' || xml[nameEnd] == '\r' || xml[nameEnd] == '\n'))
      continue;
    size_t tagEnd = xml.find('>', nameEnd);
    if (tagEnd == std::string_view::npos) return std::nullopt;
    if (xml[tagEnd - 1] == '/') return Element{{}, tagEnd + 1};
    std::string close = "</" + std::string(qname);
    size_t end = xml.find(close, tagEnd + 1);
    while (end != std::string_view::npos) {
      size_t after = end + close.size();
      while (after < xml.size() && (xml[after] == ' ' || xml[after] == '\t')) ++after;
      if (after < xml.size() && xml[after] == '>')
        return Element{xml.substr(tagEnd + 1, end - tagEnd - 1), after + 1};
      end = xml.find(close, end + 1);
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string WsmanCommand::line() const {
  std::string out = command;
  for (const auto& a : arguments) out += " " + a;
  return out;
}

std::optional<WsmanCommand> parseWsmanCommand(std::string_view body) {
  auto action = findElement(body, "Action", 0);
  if (!action) return std::nullopt;
  auto actionText = decodeText(action->content);
  if (!actionText || trim(*actionText) != kCommandAction) return std::nullopt;
  auto cmdLine = findElement(body, "CommandLine", action->next);
  if (!cmdLine) return std::nullopt;
  auto command = findElement(cmdLine->content, "Command", 0);
  if (!command) return std::nullopt;
  auto text = decodeText(command->content);
  if (!text) return std::nullopt;
  WsmanCommand out;
  out.command = std::string(trim(*text));
  for (size_t from = 0; out.arguments.size() < kMaxArguments;) {
    auto arg = findElement(cmdLine->content, "Arguments", from);
    if (!arg) break;
    auto a = decodeText(arg->content);
    if (!a) return std::nullopt;
    out.arguments.push_back(std::move(*a));
    from = arg->next;
  }
  return out;
}

}  // namespace jitgate
