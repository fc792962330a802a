// The one reader of restricted files and the one atomic writer.
#include "jitgate/files.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "jitgate/unique_fd.hpp"

namespace jitgate {
namespace {

constexpr size_t kChunk = 4096;

std::string sizeText(size_t bytes) {
  if (bytes % (1024 * 1024) == 0) return std::to_string(bytes / (1024 * 1024)) + " MiB";
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

void wipe(std::string& s) {
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

FileRules privateFileRules(std::string_view field) {
  FileRules r;
  r.field = field;
  r.forbiddenMode = 077;
  r.looseMessage = "readable by group or others; refusing to use it (chmod 600)";
  r.secret = true;
  return r;
}

FileRules rootFileRules(std::string_view field, RefusalCode code) {
  FileRules r;
  r.field = field;
  r.code = code;
  r.rootOwned = true;
  r.forbiddenMode = S_IWGRP | S_IWOTH;
  r.looseMessage = "must be owned by root and not writable by others";
  r.maxBytes = 1024 * 1024;
  return r;
}

Result<std::string> readRestrictedFile(const std::string& path, const FileRules& rules) {
  auto refuse = [&](const std::string& why) {
    return Refusal{rules.code, std::string(rules.field), path + ": " + why};
  };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return refuse(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return refuse("not a regular file");
  if ((rules.rootOwned && st.st_uid != 0) || (st.st_mode & rules.forbiddenMode))
    return refuse(std::string(rules.looseMessage));
  std::string tooLarge = "larger than " + sizeText(rules.maxBytes);
  if (static_cast<size_t>(st.st_size) > rules.maxBytes) return refuse(tooLarge);
  // Read to the end rather than trusting st_size: the file may change.
  std::string data;
  // A secret's buffer is never moved, so no copy is left behind unwiped.
  data.reserve(rules.secret ? rules.maxBytes + kChunk : static_cast<size_t>(st.st_size) + 1);
  char buf[kChunk];
  ssize_t n = 0;
  while (data.size() <= rules.maxBytes) {
    n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  if (rules.secret) OPENSSL_cleanse(buf, sizeof buf);
  std::string why = n < 0 ? std::string("read: ") + std::strerror(errno)
                          : (data.size() > rules.maxBytes ? tooLarge : std::string());
  if (!why.empty()) {
    if (rules.secret) wipe(data);
    return refuse(why);
  }
  return data;
}

Status writeFileAtomically(const std::string& path, std::string_view data, mode_t mode,
                           Replace replace) {
  auto fail = [&](const std::string& what, int err) {
    return Refusal{RefusalCode::Unavailable, "", what + ": " + std::strerror(err)};
  };
  std::string tmp = path + ".jitgate-tmp";
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) return fail(tmp, errno);
  size_t done = 0;
  bool ok = true;
  while (ok && done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && ::fchmod(fd.get(), mode) == 0 && ::fsync(fd.get()) == 0;
  int err = errno;
  fd.reset();
  // link() refuses to replace an existing file; rename() replaces it.
  if (ok) {
    ok = replace == Replace::Never ? ::link(tmp.c_str(), path.c_str()) == 0
                                   : ::rename(tmp.c_str(), path.c_str()) == 0;
    if (!ok) err = errno;
  }
  if (!ok || replace == Replace::Never) ::unlink(tmp.c_str());
  if (!ok) return fail(path, err);
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return okStatus();
}

}  // namespace jitgate
