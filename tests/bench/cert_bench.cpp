// Certificates issued and verified per second: OpenSSH user certificates per
// CA key type (Ed25519, ECDSA P-256, RSA-3072), and X.509 client
// certificates (issuing includes generating the client's P-256 key).
// Verification is the whole check a front does: parse, then every check
// through to CertCheck::Ok (or X509Check::Ok).
//   build/tests/bench/cert_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_key.hpp"
#include "jitgate/x509_ca.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;

SysTime benchNow() {
  static const SysTime now = std::chrono::floor<Seconds>(std::chrono::system_clock::now());
  return now;
}

// The user's key is Ed25519 in every case: what varies is the CA's key.
const std::string& userKeyBlob() {
  static const std::string blob = SigningKey::generate(KeyAlgorithm::Ed25519).value().publicBlob();
  return blob;
}

const SigningKey& caKey(KeyAlgorithm alg) {
  static std::map<KeyAlgorithm, std::unique_ptr<SigningKey>> keys;
  auto& k = keys[alg];
  if (!k) k = std::make_unique<SigningKey>(SigningKey::generate(alg).value());
  return *k;
}

SshCertRequest sshRequest(uint64_t serial) {
  SshCertRequest r;
  r.subjectKey = userKeyBlob();
  r.serial = serial;
  r.keyId = "jitgate grant g-0123456789abcdef user alice";
  r.principals = {"alice@vm1"};
  r.validAfter = benchNow() - 60s;
  r.validBefore = benchNow() + 1h;
  r.sourceAddresses = {Cidr::parse("10.0.0.0/8").value()};
  r.extensions = {"permit-pty"};
  return r;
}

void BM_SshIssue(benchmark::State& state, KeyAlgorithm alg) {
  const auto& ca = caKey(alg);
  auto req = sshRequest(1);
  for (auto _ : state) {
    auto blob = issueSshCertificate(ca, req);
    if (!blob) {
      state.SkipWithError(blob.refusal().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(blob);
    ++req.serial;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_SshIssue, ed25519, KeyAlgorithm::Ed25519);
BENCHMARK_CAPTURE(BM_SshIssue, ecdsa_p256, KeyAlgorithm::EcdsaP256);
BENCHMARK_CAPTURE(BM_SshIssue, rsa_3072, KeyAlgorithm::Rsa3072);

void BM_SshVerify(benchmark::State& state, KeyAlgorithm alg) {
  const auto& ca = caKey(alg);
  auto issued = issueSshCertificate(ca, sshRequest(4242));
  if (!issued) {
    state.SkipWithError(issued.refusal().message.c_str());
    return;
  }
  const std::string blob = *issued;
  CertExpectations expect;
  expect.trustedCaKeys = {ca.publicBlob()};
  expect.principal = "alice";
  expect.target = "vm1";
  expect.source = IpAddress::parse("10.1.2.3").value();
  expect.now = static_cast<uint64_t>(benchNow().time_since_epoch().count());
  // A few revoked serials, none of them ours, so the revocation lookup runs.
  expect.revoked[ca.publicBlob()] = {{1, 100}, {5000, 5000}};
  for (auto _ : state) {
    auto cert = parseSshCertificate(blob);
    if (!cert) {
      state.SkipWithError(cert.refusal().message.c_str());
      break;
    }
    std::string why;
    if (checkSshCertificate(*cert, expect, &why) != CertCheck::Ok) {
      state.SkipWithError(why.c_str());
      break;
    }
    benchmark::DoNotOptimize(cert);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_SshVerify, ed25519, KeyAlgorithm::Ed25519);
BENCHMARK_CAPTURE(BM_SshVerify, ecdsa_p256, KeyAlgorithm::EcdsaP256);
BENCHMARK_CAPTURE(BM_SshVerify, rsa_3072, KeyAlgorithm::Rsa3072);

const X509Authority& x509Ca() {
  static std::optional<X509Authority> ca;
  if (!ca) ca.emplace(X509Authority::create("jitgate bench CA", benchNow()).value());
  return *ca;
}

X509ClientSpec x509Spec(uint64_t serial) {
  X509ClientSpec s;
  s.user = "alice";
  s.upnDomain = "corp.example";
  s.grantId = "g-0123456789abcdef";
  s.serial = serial;
  s.notBefore = benchNow() - 60s;
  s.notAfter = benchNow() + 1h;
  return s;
}

void BM_X509IssueClient(benchmark::State& state) {
  const auto& ca = x509Ca();
  auto spec = x509Spec(1);
  for (auto _ : state) {
    auto issued = ca.issueClient(spec);
    if (!issued) {
      state.SkipWithError(issued.refusal().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(issued);
    ++spec.serial;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_X509IssueClient);

void BM_X509Verify(benchmark::State& state) {
  const auto& ca = x509Ca();
  auto issued = ca.issueClient(x509Spec(4242));
  if (!issued) {
    state.SkipWithError(issued.refusal().message.c_str());
    return;
  }
  const std::string pem = issued->certPem;
  const std::set<uint64_t> revoked = {1, 2, 3, 5000};
  for (auto _ : state) {
    auto verified = ca.verify(pem, benchNow(), revoked);
    if (!verified) {
      state.SkipWithError(verified.refusal().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(verified);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_X509Verify);

}  // namespace
}  // namespace jitgate

BENCHMARK_MAIN();
