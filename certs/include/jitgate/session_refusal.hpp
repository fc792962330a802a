// Why a connection, session or channel was not let through: one list for the
// grant engine and both fronts (as OpenSSH's ssherr.h is one list of codes).
// The names are what the audit log (reason=...), the metrics and the control
// API's decision show; docs/REFUSALS.md gives each one's meaning. A new reason
// needs its row here, its line there, and a test that provokes it.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace jitgate {

enum class SessionRefusal {
  // The grant engine's answer (decide).
  UnknownTarget,     // no enrolled target of that name (or at that address)
  AmbiguousTarget,   // an address shared by targets, grants on more than one cover it
  NoGrant,           // the user holds no grant on that target
  PortNotGranted,    // grants on the target, none for that port
  SourceNotAllowed,  // grants for the port, none from that address
  NotYetValid,       // a matching grant starts later
  WindowEnded,       // a matching grant's window has ended
  StoreUnavailable,  // the store cannot be reached: nothing new passes until it is back
  // SSH, before authentication.
  ConnectionLimit,       // too many unauthenticated connections (in all, or from one address)
  LoginGraceTime,        // not authenticated in time
  TooManyAttempts,       // too many signed attempts or offered keys
  MalformedUser,         // the login name cannot be a jitgate login
  AuthenticationFailed,  // the key or certificate is not the user's
  ProtocolViolation,     // a channel or request before authentication
  // SSH, after authentication.
  ForwardInTerminatingSession,  // direct-tcpip in a USER@TARGET login
  BadPort,                      // a forwarded port out of range
  TooManyChannels,              // the forwarded channels' limit
  // SSH, the bastion's own hop to the target.
  TargetUnreachable,         // resolve, connect or handshake failed
  TargetHostkeyMismatch,     // the target's host key is not the one recorded
  TargetRefusedCertificate,  // the target's sshd did not accept the hop certificate
  CertificateRefused,        // jitgate's CA would not mint the hop certificate
  InternalError,             // the bastion itself failed (a key, a descriptor, memory)
  // WinRM.
  Http,                      // the request breaks the HTTP rules (smuggling, limits, method)
  Routing,                   // the request names no target, or another than its connection's
  Identity,                  // credentials missing, unsupported, or naming another user
  Certificate,               // the client certificate is refused
  AccountDomain,             // DOMAIN\\user or user@realm of a domain not accepted
  TargetRefusedCredentials,  // admitted, but the target answered 401 to the credentials
  EndedBeforeConnected,      // admitted, but gone before the target accepted the credentials
  // Recordings (SSH terminating sessions).
  RecordingUnavailable,  // the session cannot be recorded (budget full, cap, write error)
};

struct SessionRefusalName {
  SessionRefusal reason;
  std::string_view name;
};

// Every reason, in the enum's order.
inline constexpr std::array kSessionRefusals{
    SessionRefusalName{SessionRefusal::UnknownTarget, "unknown_target"},
    SessionRefusalName{SessionRefusal::AmbiguousTarget, "ambiguous_target"},
    SessionRefusalName{SessionRefusal::NoGrant, "no_grant"},
    SessionRefusalName{SessionRefusal::PortNotGranted, "port_not_granted"},
    SessionRefusalName{SessionRefusal::SourceNotAllowed, "source_not_allowed"},
    SessionRefusalName{SessionRefusal::NotYetValid, "not_yet_valid"},
    SessionRefusalName{SessionRefusal::WindowEnded, "window_ended"},
    SessionRefusalName{SessionRefusal::StoreUnavailable, "store_unavailable"},
    SessionRefusalName{SessionRefusal::ConnectionLimit, "connection_limit"},
    SessionRefusalName{SessionRefusal::LoginGraceTime, "login_grace_time"},
    SessionRefusalName{SessionRefusal::TooManyAttempts, "too_many_attempts"},
    SessionRefusalName{SessionRefusal::MalformedUser, "malformed_user"},
    SessionRefusalName{SessionRefusal::AuthenticationFailed, "authentication_failed"},
    SessionRefusalName{SessionRefusal::ProtocolViolation, "protocol_violation"},
    SessionRefusalName{SessionRefusal::ForwardInTerminatingSession,
                       "forward_in_terminating_session"},
    SessionRefusalName{SessionRefusal::BadPort, "bad_port"},
    SessionRefusalName{SessionRefusal::TooManyChannels, "too_many_channels"},
    SessionRefusalName{SessionRefusal::TargetUnreachable, "target_unreachable"},
    SessionRefusalName{SessionRefusal::TargetHostkeyMismatch, "target_hostkey_mismatch"},
    SessionRefusalName{SessionRefusal::TargetRefusedCertificate, "target_refused_certificate"},
    SessionRefusalName{SessionRefusal::CertificateRefused, "certificate_refused"},
    SessionRefusalName{SessionRefusal::InternalError, "internal_error"},
    SessionRefusalName{SessionRefusal::Http, "http"},
    SessionRefusalName{SessionRefusal::Routing, "routing"},
    SessionRefusalName{SessionRefusal::Identity, "identity"},
    SessionRefusalName{SessionRefusal::Certificate, "certificate"},
    SessionRefusalName{SessionRefusal::AccountDomain, "account_domain"},
    SessionRefusalName{SessionRefusal::TargetRefusedCredentials, "target_refused_credentials"},
    SessionRefusalName{SessionRefusal::EndedBeforeConnected, "ended_before_connected"},
    SessionRefusalName{SessionRefusal::RecordingUnavailable, "recording_unavailable"},
};

// The table lists each value once, in order, up to the last.
constexpr bool sessionRefusalsInOrder() {
  for (size_t i = 0; i < kSessionRefusals.size(); ++i)
    if (static_cast<size_t>(kSessionRefusals[i].reason) != i) return false;
  return kSessionRefusals.back().reason == SessionRefusal::RecordingUnavailable;
}
static_assert(sessionRefusalsInOrder(), "kSessionRefusals must follow SessionRefusal");

constexpr std::string_view toString(SessionRefusal r) {
  for (const auto& n : kSessionRefusals)
    if (n.reason == r) return n.name;
  return "internal_error";  // unreachable while the table lists every value
}

}  // namespace jitgate
