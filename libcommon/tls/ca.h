#pragma once

#include <string>
#include <string_view>

#include "libcommon/util/result.h"

namespace lens::tls {

// The local certificate authority of TLS interception (DESIGN.md section 3):
// an ECDSA P-256 key and a self-signed SHA-256 certificate, kept as
// DIR/ca.key (mode 0600, never readable by the workload) and DIR/ca.crt
// (0644, the trust anchor the workload is given).

inline constexpr std::string_view kCaCommonName = "Lens Sandbox CA";

struct CaFiles {
  std::string cert;  // DIR/ca.crt
  std::string key;   // DIR/ca.key
};
[[nodiscard]] CaFiles caFiles(const std::string& dir);

struct CaInfo {
  std::string certPem;
  std::string subject;      // "CN=Lens Sandbox CA, O=Lens Sandbox"
  std::string fingerprint;  // SHA-256 of the DER certificate, "AB:CD:..."
  std::string notBefore;    // RFC 3339 UTC
  std::string notAfter;
  bool expired = false;
};

// Reads the CA in `dir` and checks it is usable: both files present, the key
// not readable by group or others, the key belongs to the certificate, the
// certificate is a CA allowed to sign certificates. An expired CA loads
// (CaInfo::expired says so); initCa refuses to keep it.
[[nodiscard]] Result<CaInfo> loadCa(const std::string& dir);

enum class CaOutcome { kCreated, kKept, kReplaced };

struct CaInitResult {
  CaInfo info;
  CaOutcome outcome = CaOutcome::kCreated;
};

// Keeps a usable CA in `dir` (creating `dir`, mode 0755, if needed) or
// creates one valid for `days` days. A CA that cannot be used (half
// present, mismatched, expired, key readable by others) is an error naming
// the problem unless `replace`; with `replace` a new CA is always made. The
// key is written before the certificate, each file atomically.
[[nodiscard]] Result<CaInitResult> initCa(const std::string& dir, int days, bool replace);

// `bundle` followed by the CA certificate, unless the bundle already holds
// that certificate (byte-equal PEM block): the trust bundle for the workload.
[[nodiscard]] std::string appendToBundle(std::string bundle, std::string_view certPem);

}  // namespace lens::tls
