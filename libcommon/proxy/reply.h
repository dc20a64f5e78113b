#pragma once

#include <string>
#include <string_view>

namespace lens::proxy {

// Reason codes of lens-proxy's own answers (X-Lens-Reason and audit
// metadata.reason), beside the decision engine's (decision/decision.h).
namespace reason {
inline constexpr std::string_view kPolicyFrameMissing =
    "policy-frame-missing";  // a credential approved, still without an injection
inline constexpr std::string_view kInterceptionUnavailable = "interception-unavailable";
inline constexpr std::string_view kBadRequest = "bad-request";           // 400
inline constexpr std::string_view kHeaderTooLarge = "header-too-large";  // 431
inline constexpr std::string_view kHeaderTimeout = "header-timeout";     // 408
inline constexpr std::string_view kDnsFailure = "dns-failure";           // 502
inline constexpr std::string_view kConnectFailed = "connect-failed";     // 502
inline constexpr std::string_view kConnectTimeout = "connect-timeout";   // 504
inline constexpr std::string_view kBadResponse =
    "bad-response";  // 502: the origin's response is malformed
inline constexpr std::string_view kNoUpstreamProxy = "no-upstream-proxy";            // 503
inline constexpr std::string_view kUpstreamProxyFailed = "upstream-proxy-failed";    // 502
inline constexpr std::string_view kUpstreamProxyTimeout = "upstream-proxy-timeout";  // 504
inline constexpr std::string_view kConnectionLimit = "connection-limit";             // 503
inline constexpr std::string_view kPolicyChanged = "policy-changed";  // a reload closed a tunnel
inline constexpr std::string_view kDrainTimeout = "drain-timeout";    // closed at shutdown
inline constexpr std::string_view kIdleTimeout = "idle-timeout";
// lens-tproxy (the transparent doors).
inline constexpr std::string_view kRedirectLoop =
    "redirect-loop";  // the destination is our listener
inline constexpr std::string_view kHttpConnectOnTransparent = "http-connect-on-transparent";
inline constexpr std::string_view kHttpNoHost = "http-no-host";
inline constexpr std::string_view kTlsBadClientHello = "tls-bad-client-hello";
inline constexpr std::string_view kTlsClientHelloTooLarge = "tls-client-hello-too-large";
// A GraphQL subscription socket closed for a frame (original-behaviour 5.8
// spells it with underscores).
inline constexpr std::string_view kGraphqlFrameDenied = "graphql_frame_denied";
// TLS interception.
inline constexpr std::string_view kCaUnavailable = "ca-unavailable";       // 503: no usable CA
inline constexpr std::string_view kOriginTlsFailed = "origin-tls-failed";  // 502
inline constexpr std::string_view kHostMismatch =
    "host-mismatch";  // 421: Host or SNI names another host
inline constexpr std::string_view kAlpnUnsupported =
    "alpn-unsupported";  // the client offers only protocols we do not speak
inline constexpr std::string_view kClientTlsFailed =
    "client-tls-failed";  // the client's TLS handshake failed
inline constexpr std::string_view kTlsHandshakeTimeout = "tls-handshake-timeout";
inline constexpr std::string_view kResponseTimeout =
    "response-timeout";  // 504: no answer from the origin
// HTTP/2 inside interception: the connection ends with GOAWAY.
inline constexpr std::string_view kH2RapidReset = "h2-rapid-reset";  // CVE-2023-44487
inline constexpr std::string_view kH2ContinuationFlood = "h2-continuation-flood";
inline constexpr std::string_view kH2Flood =
    "h2-flood";  // SETTINGS or PING faster than they are read
inline constexpr std::string_view kH2ProtocolError = "h2-protocol-error";
}  // namespace reason

// The reason phrase of a status code lens-proxy sends ("Forbidden"), or
// writes for an HTTP/2 origin's answer (which has none).
std::string_view statusText(int status);

// A complete response of the proxy's own: status line, Connection: close
// (unless `keepAlive`: inside an intercepted connection a refusal leaves it
// usable), Content-Type: text/plain, Content-Length, X-Lens-Reason: <reason>,
// and a one-line body "<tool>: <subject>: <text> (<reason>)". The
// subject is the host the client asked for (or "request"); nothing else
// from the request is repeated.
std::string errorReply(int status, std::string_view reason, std::string_view subject,
                       std::string_view text, std::string_view tool = "lens-proxy",
                       bool keepAlive = false);

// The proxy's answer to an OAuth token request (sign/token_answer.h):
// application/json, Cache-Control: no-store, Pragma: no-cache.
std::string tokenReply(int status, std::string_view json, bool keepAlive);

// "HTTP/1.1 200 Connection established" and the empty line.
inline constexpr std::string_view kConnectEstablished =
    "HTTP/1.1 200 Connection established\r\n\r\n";

}  // namespace lens::proxy
