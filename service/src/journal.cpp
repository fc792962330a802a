// The journal: spdlog's systemd sink for log lines, sd_journal_sendv for
// audit records with their fields.
#include "jitgate/service/journal.hpp"

#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <cstdlib>
#include <cstring>

namespace jitgate {

bool journalStreamNames(const char* value, dev_t dev, ino_t ino) {
  if (!value) return false;
  unsigned long long d = 0, i = 0;
  char tail = 0;
  if (std::sscanf(value, "%llu:%llu%c", &d, &i, &tail) != 2) return false;
  return d == static_cast<unsigned long long>(dev) && i == static_cast<unsigned long long>(ino);
}

bool stderrIsJournal() {
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return journalStreamNames(std::getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
}

void logToJournal() {
  auto sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("jitgated");
  auto logger = spdlog::default_logger();
  logger->sinks().clear();
  logger->sinks().push_back(sink);
}

std::vector<std::string> journalFields(const AuditEntry& e) {
  std::string message = "audit: " + e.action + " " + e.outcome + " by " + e.actor;
  if (!e.target.empty()) message += " target=" + e.target;
  if (!e.detail.empty()) message += " " + e.detail;
  std::vector<std::string> f{
      "MESSAGE=" + message,
      "PRIORITY=" + std::to_string(e.outcome == "ok" ? LOG_INFO : LOG_NOTICE),
      "SYSLOG_IDENTIFIER=jitgated",
      "JITGATE_ACTION=" + e.action,
      "JITGATE_OUTCOME=" + e.outcome,
      "JITGATE_ACTOR=" + e.actor};
  auto add = [&](const char* key, const std::string& v) {
    if (!v.empty()) f.push_back(std::string(key) + "=" + v);
  };
  add("JITGATE_GRANT", e.grantId);
  add("JITGATE_REQUEST", e.requestId);
  add("JITGATE_USER", e.user);
  add("JITGATE_TARGET", e.target);
  if (e.port) add("JITGATE_PORT", std::to_string(*e.port));
  add("JITGATE_SOURCE", e.source);
  // A session record's words: its front, reason and id (session=s-...), each
  // the first of its name.
  for (const char* word : {"front", "reason", "session"}) {
    std::string needle = std::string(word) + "=";
    auto at = e.detail.find(needle);
    if (at != 0 && (at == std::string::npos || e.detail[at - 1] != ' ')) continue;
    auto end = e.detail.find_first_of(" :", at);
    std::string upper = word;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    add(("JITGATE_" + upper).c_str(),
        e.detail.substr(at + needle.size(), end - at - needle.size()));
  }
  add("JITGATE_SEQ", e.seq ? std::to_string(e.seq) : "");
  return f;
}

int journalAudit(const AuditEntry& e) {
  auto fields = journalFields(e);
  std::vector<iovec> iov;
  for (auto& s : fields) iov.push_back({s.data(), s.size()});
  return sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

void JournalAudit::committed(const Commit& c) {
  for (const auto& e : c.audit) {
    if (int r = journalAudit(e); r < 0)
      spdlog::warn("journal: audit seq {}: {}", e.seq, std::strerror(-r));
  }
}

}  // namespace jitgate
