// The recordings directory (recording_store.hpp): what is in it, what may
// be added, what is old enough to go, and reading files back for the API.
#include "jitgate/recording/recording_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "jitgate/recording/asciicast.hpp"
#include "jitgate/recording/screen_search.hpp"
#include "jitgate/text.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using Ms = std::chrono::milliseconds;

constexpr size_t kMaxChainBytes = 64ull << 20;  // ~600k chunks: far beyond any cap

Refusal unavailable(const std::string& why) { return Refusal{RefusalCode::Unavailable, "", why}; }

bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Reads a regular file (never through a link) whole, up to `max` bytes.
Result<std::string> readWhole(const std::string& path, size_t max, const std::string& id) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return Refusal{RefusalCode::NotFound, "id", "no recording " + id};
    return unavailable("recording " + id + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return unavailable("recording " + id + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max)
    return unavailable("recording " + id + " is larger than " + std::to_string(max) + " bytes");
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return unavailable("recording " + id + ": " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);  // a live recording may be read while it grows
  return out;
}

// The first line, at most `max` bytes of it.
std::string firstLine(const std::string& path, size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return "";
  std::string buf(max, '\0');
  ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), 0);
  if (n <= 0) return "";
  buf.resize(static_cast<size_t>(n));
  auto eol = buf.find('\n');
  return eol == std::string::npos ? "" : buf.substr(0, eol);
}

// The last `max` bytes.
std::string tail(const std::string& path, uint64_t size, size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return "";
  size_t want = static_cast<size_t>(std::min<uint64_t>(size, max));
  std::string buf(want, '\0');
  ssize_t n = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(size - want));
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buf;
}

std::string str(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

uint64_t fileSize(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size)
                                                                : 0;
}

bool matches(const RecordingInfo& r, const RecordingFilter& f) {
  return (f.user.empty() || r.user == f.user) && (f.target.empty() || r.target == f.target) &&
         (f.grantId.empty() || r.grantId == f.grantId) && (!f.since || r.started >= *f.since);
}

}  // namespace

RecordingStore::RecordingStore(std::string dir, RecordingSettings settings)
    : dir_(std::move(dir)), settings_(settings) {}

RecordingStore::~RecordingStore() {
  // Recorders close before the store goes; one that did not is cut loose.
  std::lock_guard lock(mu_);
  for (auto& [id, r] : open_) r->store_ = nullptr;
}

Result<std::unique_ptr<RecordingStore>> RecordingStore::open(const std::string& dir,
                                                             RecordingSettings settings) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return unavailable("recordings directory " + dir + ": " + std::strerror(errno));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return unavailable("recordings directory " + dir + " is not a directory");
  if (st.st_uid != ::geteuid())
    return unavailable("recordings directory " + dir + " belongs to another user");
  if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0)
    return unavailable("recordings directory " + dir + ": chmod 0700: " + std::strerror(errno));
  std::unique_ptr<RecordingStore> s(new RecordingStore(dir, settings));
  for (const auto& id : s->ids())
    s->closedBytes_ += fileSize(s->path(id, ".cast")) + fileSize(s->path(id, ".chain"));
  return s;
}

bool RecordingStore::validId(std::string_view id) {
  // s-<16 hex>-<1..3 digits>
  if (id.size() < 20 || id.size() > 22 || id.substr(0, 2) != "s-" || id[18] != '-') return false;
  for (size_t i = 2; i < 18; ++i)
    if (!isHex(id[i])) return false;
  for (size_t i = 19; i < id.size(); ++i)
    if (id[i] < '0' || id[i] > '9') return false;
  return id[19] != '0';
}

std::string RecordingStore::path(const std::string& id, const char* ext) const {
  return dir_ + "/" + id + ext;
}

std::vector<std::string> RecordingStore::ids() const {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return out;
  std::unique_ptr<DIR, int (*)(DIR*)> owned(d, ::closedir);
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".cast") == 0) {
      std::string id = name.substr(0, name.size() - 5);
      if (validId(id)) out.push_back(id);
    }
  }
  return out;
}

uint64_t RecordingStore::committedBytes() const {
  std::lock_guard lock(mu_);
  return closedBytes_ + open_.size() * settings_.maxBytes;
}

Result<std::unique_ptr<Recorder>> RecordingStore::begin(const RecordingHeader& h) {
  uint64_t committed = committedBytes();
  if (committed + settings_.maxBytes > settings_.budgetBytes)
    return unavailable("the recordings' disk budget is full (" + std::to_string(committed) +
                       " of " + std::to_string(settings_.budgetBytes) +
                       " bytes committed, recordings.budget)");
  if (h.session.size() != 18) return unavailable("no session id to name the recording by");
  std::string id;
  UniqueFd cast;
  for (int n = 1; n <= 999 && !cast; ++n) {
    id = h.session + "-" + std::to_string(n);
    if (!validId(id)) return unavailable("the session id cannot name a recording");
    cast.reset(::open(path(id, ".cast").c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!cast && errno != EEXIST)
      return unavailable("cannot create recording " + id + ": " + std::strerror(errno));
  }
  if (!cast) return unavailable("too many recordings for session " + h.session);
  UniqueFd chain(::open(path(id, ".chain").c_str(),
                        O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!chain) {
    int err = errno;
    ::unlink(path(id, ".cast").c_str());
    return unavailable("cannot create recording " + id + ": " + std::strerror(err));
  }
  std::string head = "jitgate-recording-chain 1 " + id + "\n";
  if (::write(chain.get(), head.data(), head.size()) != static_cast<ssize_t>(head.size())) {
    int err = errno;
    ::unlink(path(id, ".cast").c_str());
    ::unlink(path(id, ".chain").c_str());
    return unavailable("cannot write recording " + id + ": " + std::strerror(err));
  }
  int w = h.width > 0 && h.width <= 1000 ? h.width : 80;
  int ht = h.height > 0 && h.height <= 1000 ? h.height : 24;
  auto now = std::chrono::system_clock::now();
  auto startedMs = std::chrono::time_point_cast<Ms>(now);
  std::string header =
      "{\"version\": 2, \"width\": " + std::to_string(w) + ", \"height\": " + std::to_string(ht) +
      ", \"timestamp\": " + std::to_string(std::chrono::system_clock::to_time_t(now));
  if (!h.command.empty()) header += ", \"command\": " + jsonString(h.command);
  header += ", \"title\": " + jsonString(h.user + "@" + h.target);
  header += ", \"env\": {\"TERM\": " + jsonString(h.term.empty() ? "xterm" : h.term) + "}";
  header += ", \"jitgate\": {\"recording\": " + jsonString(id) +
            ", \"session\": " + jsonString(h.session) + ", \"user\": " + jsonString(h.user) +
            ", \"target\": " + jsonString(h.target) + ", \"grant\": " + jsonString(h.grantId) +
            ", \"source\": " + jsonString(h.source) + ", \"channel\": " + jsonString(h.channel) +
            ", \"record\": " + jsonString(toString(h.mode)) +
            ", \"started\": " + jsonString(formatTimestampMs(startedMs)) + "}}\n";
  std::unique_ptr<Recorder> r(
      new Recorder(this, id, std::move(cast), std::move(chain), h.mode, settings_.maxBytes));
  r->buffer_ = std::move(header);
  r->flush();  // the header is on disk at once: a crash leaves a playable file
  std::lock_guard lock(mu_);
  open_[id] = r.get();
  return r;
}

void RecordingStore::closed(Recorder* r, uint64_t) {
  std::lock_guard lock(mu_);
  open_.erase(r->id());
  closedBytes_ += fileSize(path(r->id(), ".cast")) + fileSize(path(r->id(), ".chain"));
}

void RecordingStore::flushDue() {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  for (auto& [id, r] : open_) r->flushIfDue(now, settings_.flushInterval);
}

std::vector<std::string> RecordingStore::prune(std::chrono::system_clock::time_point now) {
  std::vector<std::string> removed;
  auto cutoff = std::chrono::system_clock::to_time_t(now - settings_.retention);
  for (const auto& id : ids()) {
    {
      std::lock_guard lock(mu_);
      if (open_.count(id)) continue;
    }
    struct stat st {};
    std::string cast = path(id, ".cast"), chain = path(id, ".chain");
    if (::lstat(cast.c_str(), &st) != 0 || st.st_mtime >= cutoff) continue;
    uint64_t bytes = fileSize(cast) + fileSize(chain);
    if (::unlink(cast.c_str()) != 0) {
      spdlog::warn("recording {}: cannot remove: {}", id, std::strerror(errno));
      continue;
    }
    ::unlink(chain.c_str());
    std::lock_guard lock(mu_);
    closedBytes_ -= std::min(closedBytes_, bytes);
    removed.push_back(id);
  }
  return removed;
}

Result<RecordingInfo> RecordingStore::read(const std::string& id) const {
  std::string cast = path(id, ".cast");
  uint64_t size = fileSize(cast);
  std::string head = firstLine(cast, 64 * 1024);
  if (head.empty()) return Refusal{RefusalCode::NotFound, "id", "no recording " + id};
  boost::system::error_code ec;
  auto v = json::parse(head, ec);
  if (ec || !v.is_object()) return unavailable("recording " + id + ": its header is unreadable");
  const auto& o = v.as_object();
  RecordingInfo r;
  r.id = id;
  r.bytes = size;
  r.command = str(o, "command");
  if (const auto* w = o.if_contains("width"); w && w->is_int64())
    r.width = static_cast<int>(w->as_int64());
  if (const auto* w = o.if_contains("height"); w && w->is_int64())
    r.height = static_cast<int>(w->as_int64());
  if (const auto* j = o.if_contains("jitgate"); j && j->is_object()) {
    const auto& m = j->as_object();
    r.session = str(m, "session");
    r.user = str(m, "user");
    r.target = str(m, "target");
    r.grantId = str(m, "grant");
    r.source = str(m, "source");
    r.channel = str(m, "channel");
    r.mode = str(m, "record");
    if (auto t = parseTimestamp(str(m, "started"), "started"))
      r.started = std::chrono::time_point_cast<Ms>(*t);
  }
  // The end line of the chain, if the recording was closed.
  std::string chainTail = tail(path(id, ".chain"), fileSize(path(id, ".chain")), 512);
  if (auto at = chainTail.rfind("\nend "); at != std::string::npos) {
    std::istringstream in(chainTail.substr(at + 5));
    std::string bytes, chunks, digest, why;
    if (in >> bytes >> chunks >> digest >> why) {
      r.closed = true;
      r.endReason = why;
    }
  }
  std::string last = tail(cast, size, 256 * 1024);
  if (auto at = last.rfind("\n["); at != std::string::npos)
    r.duration = std::strtod(last.c_str() + at + 2, nullptr);
  return r;
}

std::vector<RecordingInfo> RecordingStore::list(const RecordingFilter& f) const {
  std::vector<RecordingInfo> out;
  for (const auto& id : ids()) {
    auto r = read(id);
    if (r && matches(*r, f)) out.push_back(std::move(*r));
  }
  std::sort(out.begin(), out.end(), [](const RecordingInfo& a, const RecordingInfo& b) {
    return a.started != b.started ? a.started > b.started : a.id > b.id;
  });
  return out;
}

Result<RecordingInfo> RecordingStore::find(const std::string& id) const {
  if (!validId(id)) return invalid("id", "not a recording id (s-<16 hex digits>-<channel>)");
  return read(id);
}

Result<std::string> RecordingStore::cast(const std::string& id) const {
  if (!validId(id)) return invalid("id", "not a recording id (s-<16 hex digits>-<channel>)");
  // A cap may be lowered after a recording was made: allow a margin.
  return readWhole(path(id, ".cast"), std::max<uint64_t>(settings_.maxBytes, 1ull << 20) * 2, id);
}

Result<RecordingCheck> RecordingStore::check(const std::string& id) const {
  auto data = cast(id);
  if (!data) return data.refusal();
  auto chainText = readWhole(path(id, ".chain"), kMaxChainBytes, id);
  RecordingCheck c;
  HashChain hash(id);
  if (!chainText) {
    c.problem = "its hash chain is missing";
    return c;
  }
  std::istringstream in(*chainText);
  std::string line;
  if (!std::getline(in, line) || line != "jitgate-recording-chain 1 " + id) {
    c.problem = "its hash chain does not name it";
    return c;
  }
  c.digest = hash.hex();
  bool ended = false;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string kind;
    f >> kind;
    if (kind == "chunk" && !ended) {
      uint64_t n = 0, offset = 0, len = 0;
      std::string hex;
      if (!(f >> n >> offset >> len >> hex) || n != c.chunks + 1 || offset != c.bytes) {
        c.problem = "its hash chain is malformed at chunk " + std::to_string(c.chunks + 1);
        return c;
      }
      if (offset + len > data->size()) {
        c.problem = "the file is shorter than its chain says (chunk " + std::to_string(n) +
                    " ends at byte " + std::to_string(offset + len) + ", the file has " +
                    std::to_string(data->size()) + ")";
        return c;
      }
      hash.add(std::string_view(*data).substr(offset, len));
      if (hash.hex() != hex) {
        c.problem = "chunk " + std::to_string(n) + " (bytes " + std::to_string(offset) + ".." +
                    std::to_string(offset + len) + ") does not match its hash";
        return c;
      }
      c.chunks = n;
      c.bytes = offset + len;
      c.digest = hex;
    } else if (kind == "end" && !ended) {
      uint64_t bytes = 0, chunks = 0;
      std::string hex, why;
      if (!(f >> bytes >> chunks >> hex >> why) || bytes != c.bytes || chunks != c.chunks ||
          hex != c.digest) {
        c.problem = "the chain's end does not match its chunks";
        return c;
      }
      c.finalDigest = hex;
      ended = true;
    } else {
      c.problem =
          "its hash chain has a line it cannot read after chunk " + std::to_string(c.chunks);
      return c;
    }
  }
  if (c.bytes < data->size()) {
    uint64_t extra = data->size() - c.bytes;
    if (ended) {
      c.problem = std::to_string(extra) + " bytes after the end of the chain";
      return c;
    }
    c.state = RecordingCheck::State::Incomplete;
    c.problem =
        std::to_string(extra) + " bytes after the last chained chunk are not covered by the chain";
    return c;
  }
  if (!ended) {
    bool live;
    {
      std::lock_guard lock(mu_);
      live = open_.count(id) > 0;
    }
    c.state = RecordingCheck::State::Incomplete;
    c.problem = live ? "still being recorded: intact up to its last flush"
                     : "never closed (the daemon stopped while recording): intact up to its "
                       "last flush";
    return c;
  }
  c.state = RecordingCheck::State::Intact;
  return c;
}

Result<std::vector<ScreenHit>> RecordingStore::search(const std::string& text,
                                                      const RecordingFilter& f,
                                                      size_t limit) const {
  std::vector<ScreenHit> hits;
  auto all = list(f);
  // Oldest first: hits in the order they happened.
  std::reverse(all.begin(), all.end());
  for (const auto& r : all) {
    if (hits.size() >= limit) break;
    auto data = cast(r.id);
    if (!data) continue;
    searchScreen(*data, r.id, text, limit, hits);
  }
  return hits;
}

}  // namespace jitgate
