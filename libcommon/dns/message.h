#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "libcommon/net/ip_address.h"
#include "libcommon/util/result.h"

namespace lens::dns {

// DNS wire format (RFC 1035, EDNS(0) RFC 6891): a bounds-checked reader of
// client queries and upstream responses, and the few responses lens-dns
// writes itself. Every offset is checked before it is read; compression
// pointers must point backwards, so a name can never loop.

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxNameWire = 255;  // octets, labels and length bytes
inline constexpr std::size_t kMaxLabel = 63;
inline constexpr std::size_t kMaxMessage = 65535;
inline constexpr std::uint16_t kClassIn = 1;
// The UDP payload size lens-dns advertises (DNS flag day 2020).
inline constexpr std::uint16_t kOurUdpPayload = 1232;

namespace rrtype {
inline constexpr std::uint16_t kA = 1;
inline constexpr std::uint16_t kCname = 5;
inline constexpr std::uint16_t kSoa = 6;
inline constexpr std::uint16_t kHinfo = 13;
inline constexpr std::uint16_t kAaaa = 28;
inline constexpr std::uint16_t kOpt = 41;
inline constexpr std::uint16_t kSvcb = 64;
inline constexpr std::uint16_t kHttps = 65;
inline constexpr std::uint16_t kAny = 255;
}  // namespace rrtype

enum class Rcode : std::uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5
};

// Header flag bits (second 16-bit word).
namespace flag {
inline constexpr std::uint16_t kQr = 0x8000;
inline constexpr std::uint16_t kAa = 0x0400;
inline constexpr std::uint16_t kTc = 0x0200;
inline constexpr std::uint16_t kRd = 0x0100;
inline constexpr std::uint16_t kRa = 0x0080;
inline constexpr std::uint16_t kAd = 0x0020;
inline constexpr std::uint16_t kCd = 0x0010;
}  // namespace flag

// Why a query was not accepted. kUnsupportedOpcode queries are answered
// NOTIMP; every other problem means the bytes are not a query we answer at
// all (dropped on UDP, the connection closed on TCP).
enum class QueryProblem : std::uint8_t {
  kTooShort,
  kNotAQuery,  // QR set: a response
  kUnsupportedOpcode,
  kQuestionCount,  // not exactly one question
  kBadName,
  kTruncatedRecord,
  kBadOpt,  // a second OPT, OPT not at the root, or a malformed one
  kTrailingBytes,
};
std::string_view toString(QueryProblem problem);

struct Query {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  // The name in presentation form: lower case, no trailing dot ("" is the
  // root). Bytes other than letters, digits, '-', '_' and '*' are written
  // \DDD, so the text never contains a raw '.' inside a label.
  std::string name;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::size_t questionEnd = 0;  // offset just past the question
  bool edns = false;
  std::uint16_t udpPayload = 512;  // what the client can receive over UDP
  bool dnssecOk = false;

  [[nodiscard]] std::uint8_t opcode() const {
    return static_cast<std::uint8_t>((flags >> 11) & 0xf);
  }
  [[nodiscard]] bool recursionDesired() const { return (flags & flag::kRd) != 0; }
  // The largest response the client accepts over UDP.
  [[nodiscard]] std::size_t udpLimit() const {
    return edns ? std::max<std::size_t>(512, udpPayload) : 512;
  }
};

struct QueryError {
  QueryProblem problem;
  std::uint16_t id = 0;  // valid when the header was readable
  std::uint16_t flags = 0;
};

// Parses a client query. On error the problem says whether to answer NOTIMP
// or to drop the bytes.
std::variant<Query, QueryError> parseQuery(std::span<const std::uint8_t> wire);

// One resource record of a response, as offsets into the message.
struct RecordRef {
  std::size_t ttlOffset = 0;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::uint8_t section = 0;  // 1 answer, 2 authority, 3 additional
};

// What lens-dns needs to know about an upstream response.
struct ResponseInfo {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::size_t questionEnd = 0;
  std::vector<RecordRef> records;        // every record except OPT, in order
  std::optional<std::size_t> optOffset;  // the OPT record, if any
  std::size_t optLength = 0;
  std::uint16_t answerCount = 0;
  // A and AAAA records of the answer section.
  std::vector<net::IpAddress> addresses;
  // The smallest TTL of the answer section (nullopt without answers).
  std::optional<std::uint32_t> minAnswerTtl;
  // RFC 2308: min(SOA TTL, SOA MINIMUM) of an SOA in the authority section.
  std::optional<std::uint32_t> negativeTtl;

  [[nodiscard]] Rcode rcode() const { return static_cast<Rcode>(flags & 0xf); }
  [[nodiscard]] bool truncated() const { return (flags & flag::kTc) != 0; }
};

// Scans a whole response; fails on any malformed or out-of-bounds part.
Result<ResponseInfo> scanResponse(std::span<const std::uint8_t> wire);

// The query's header and question as a response header: QR and RA set, the
// query's id, opcode, RD and CD kept, counts zero except qdcount.
std::vector<std::uint8_t> responseHead(std::span<const std::uint8_t> queryWire, const Query& query,
                                       Rcode rcode);

// A response with no records: NXDOMAIN, SERVFAIL, NOTIMP, REFUSED, or an
// empty NOERROR (NODATA). Like anyResponse, without OPT: the caller appends
// one (appendOpt) when the query had EDNS.
std::vector<std::uint8_t> emptyResponse(std::span<const std::uint8_t> queryWire, const Query& query,
                                        Rcode rcode);

// NOTIMP for a query whose header was readable but whose opcode is not QUERY.
std::vector<std::uint8_t> notImplemented(std::uint16_t id, std::uint16_t queryFlags);

// RFC 8482: the answer to ANY, one synthesized HINFO "RFC8482" "" record.
std::vector<std::uint8_t> anyResponse(std::span<const std::uint8_t> queryWire, const Query& query);

// Removes the OPT record found by scanResponse (always the last record) and
// fixes ARCOUNT.
void stripOpt(std::vector<std::uint8_t>& wire, ResponseInfo& info);

// Appends an OPT record advertising kOurUdpPayload, with the DO bit given.
void appendOpt(std::vector<std::uint8_t>& wire, bool dnssecOk);

// The header and question of `wire` with TC set, records dropped (and an OPT
// appended when the query had EDNS): what a UDP client gets when the answer
// does not fit.
std::vector<std::uint8_t> truncatedResponse(std::span<const std::uint8_t> wire,
                                            std::size_t questionEnd, const Query& query);

// Big-endian helpers.
inline std::uint16_t read16(std::span<const std::uint8_t> w, std::size_t at) {
  return static_cast<std::uint16_t>((w[at] << 8) | w[at + 1]);
}
inline std::uint32_t read32(std::span<const std::uint8_t> w, std::size_t at) {
  return (std::uint32_t{w[at]} << 24) | (std::uint32_t{w[at + 1]} << 16) |
         (std::uint32_t{w[at + 2]} << 8) | w[at + 3];
}
inline void write16(std::span<std::uint8_t> w, std::size_t at, std::uint16_t v) {
  w[at] = static_cast<std::uint8_t>(v >> 8);
  w[at + 1] = static_cast<std::uint8_t>(v);
}
inline void write32(std::span<std::uint8_t> w, std::size_t at, std::uint32_t v) {
  w[at] = static_cast<std::uint8_t>(v >> 24);
  w[at + 1] = static_cast<std::uint8_t>(v >> 16);
  w[at + 2] = static_cast<std::uint8_t>(v >> 8);
  w[at + 3] = static_cast<std::uint8_t>(v);
}

}  // namespace lens::dns
