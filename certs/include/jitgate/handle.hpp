// Ownership of C handles: one deleter template, the named aliases for the
// OpenSSL and libssh handles jitgate holds (descriptors: unique_fd.hpp).
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "jitgate/unique_fd.hpp"

namespace jitgate {

// Frees a handle with the C library's own function (a null one is left
// alone, whatever the library would do with it).
template <auto Free>
struct FreeWith {
  template <class T>
  void operator()(T* p) const {
    if (p) Free(p);
  }
};

// A handle of type T released with Free: CHandle<BIO, BIO_free>.
template <class T, auto Free>
using CHandle = std::unique_ptr<T, FreeWith<Free>>;

// OpenSSL.
using BioPtr = CHandle<BIO, BIO_free>;
using BignumPtr = CHandle<BIGNUM, BN_free>;
using EcdsaSigPtr = CHandle<ECDSA_SIG, ECDSA_SIG_free>;
using EvpMdCtxPtr = CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpPkeyPtr = CHandle<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtxPtr = CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using OsslParamBldPtr = CHandle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using OsslParamPtr = CHandle<OSSL_PARAM, OSSL_PARAM_free>;
using X509Ptr = CHandle<X509, X509_free>;
using X509StorePtr = CHandle<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = CHandle<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509ExtensionPtr = CHandle<X509_EXTENSION, X509_EXTENSION_free>;
using GeneralNamePtr = CHandle<GENERAL_NAME, GENERAL_NAME_free>;
using GeneralNamesPtr = CHandle<GENERAL_NAMES, GENERAL_NAMES_free>;
using Asn1ObjectPtr = CHandle<ASN1_OBJECT, ASN1_OBJECT_free>;
using Asn1TypePtr = CHandle<ASN1_TYPE, ASN1_TYPE_free>;
using Asn1Utf8StringPtr = CHandle<ASN1_UTF8STRING, ASN1_UTF8STRING_free>;
using Asn1Ia5StringPtr = CHandle<ASN1_IA5STRING, ASN1_IA5STRING_free>;

// OPENSSL_free is a macro (it records file and line), so it cannot be a
// template argument.
struct OpensslFree {
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
using OpensslBytesPtr = std::unique_ptr<unsigned char, OpensslFree>;

// libssh (header only here: the components that use these link libssh).
using SshSessionPtr = CHandle<ssh_session_struct, ssh_free>;
using SshBindPtr = CHandle<ssh_bind_struct, ssh_bind_free>;
using SshEventPtr = CHandle<ssh_event_struct, ssh_event_free>;
using SshKeyPtr = CHandle<ssh_key_struct, ssh_key_free>;
using SshChannelPtr = CHandle<ssh_channel_struct, ssh_channel_free>;
using SshCharPtr = CHandle<char, ssh_string_free_char>;

}  // namespace jitgate
