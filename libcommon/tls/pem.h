#pragma once

#include <string_view>
#include <vector>

#include "libcommon/tls/openssl_handles.h"
#include "libcommon/util/result.h"

// PEM text from a policy or a file: certificates and private keys, read
// with errors that name the field (`what`) and never quote the text.
namespace lens::tls {

// Every certificate in `pem`, in order; an error when there is none.
[[nodiscard]] Result<std::vector<Cert>> readCertificates(std::string_view pem,
                                                         std::string_view what);
// The (first) private key in `pem`.
[[nodiscard]] Result<Pkey> readPrivateKey(std::string_view pem, std::string_view what);
// A client identity: a certificate chain whose first certificate belongs to
// the private key.
[[nodiscard]] Status checkClientIdentity(std::string_view certPem, std::string_view keyPem);

}  // namespace lens::tls
