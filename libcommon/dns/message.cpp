#include "libcommon/dns/message.h"

#include <array>

namespace lens::dns {

namespace {

using Wire = std::span<const std::uint8_t>;

void appendLabel(std::string& out, Wire label) {
  if (!out.empty()) out.push_back('.');
  for (std::uint8_t byte : label) {
    const char c = static_cast<char>(byte);
    if (c >= 'A' && c <= 'Z') {
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '*') {
      out.push_back(c);
    } else {
      out.push_back('\\');
      out.push_back(static_cast<char>('0' + byte / 100));
      out.push_back(static_cast<char>('0' + byte / 10 % 10));
      out.push_back(static_cast<char>('0' + byte % 10));
    }
  }
}

// Reads the name at `at`; appends its presentation form to `out` when given.
// Returns the offset just past the name where it starts (a pointer ends it),
// or nullopt when it is malformed. A compression pointer must point after
// the header and before the start of the segment that contains it, so
// positions strictly decrease from jump to jump and no name can loop.
std::optional<std::size_t> readName(Wire w, std::size_t at, std::string* out) {
  std::size_t pos = at;
  std::size_t segmentStart = at;
  // Bytes a segment may use: after a jump, only those before the pointer
  // that jumped, so a name never depends on anything after its own place
  // (stripping a trailing OPT can never change an earlier name).
  std::size_t limit = w.size();
  std::optional<std::size_t> end;
  std::size_t wireLength = 0;
  for (;;) {
    if (pos >= limit) return std::nullopt;
    const std::uint8_t length = w[pos];
    if ((length & 0xC0) == 0xC0) {
      if (pos + 2 > limit) return std::nullopt;
      const std::size_t target = (std::size_t{length & 0x3Fu} << 8) | w[pos + 1];
      // Into the records before this segment, never into the header (whose
      // bytes lens-dns rewrites when it answers).
      if (target >= segmentStart || target < kHeaderSize) return std::nullopt;
      if (!end) end = pos + 2;
      limit = pos;
      pos = segmentStart = target;
      continue;
    }
    if ((length & 0xC0) != 0) return std::nullopt;  // obsolete label types
    wireLength += std::size_t{length} + 1;
    if (wireLength > kMaxNameWire) return std::nullopt;
    if (length == 0) return end ? *end : pos + 1;
    if (pos + 1 + length > limit) return std::nullopt;
    if (out) appendLabel(*out, w.subspan(pos + 1, length));
    pos += 1 + std::size_t{length};
  }
}

struct Record {
  std::size_t start = 0;
  std::size_t ttlOffset = 0;
  std::uint16_t type = 0;
  std::uint16_t rclass = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata = 0;
  std::uint16_t rdlength = 0;
  std::size_t end = 0;
};

// Reads one resource record at `at`, owner name into `owner` when given.
std::optional<Record> readRecord(Wire w, std::size_t at, std::string* owner) {
  Record r;
  r.start = at;
  auto afterName = readName(w, at, owner);
  if (!afterName || *afterName + 10 > w.size()) return std::nullopt;
  const std::size_t p = *afterName;
  r.type = read16(w, p);
  r.rclass = read16(w, p + 2);
  r.ttlOffset = p + 4;
  r.ttl = read32(w, p + 4);
  r.rdlength = read16(w, p + 8);
  r.rdata = p + 10;
  r.end = r.rdata + r.rdlength;
  if (r.end > w.size()) return std::nullopt;
  return r;
}

void setCounts(std::vector<std::uint8_t>& w, std::uint16_t qd, std::uint16_t an, std::uint16_t ns,
               std::uint16_t ar) {
  write16(w, 4, qd);
  write16(w, 6, an);
  write16(w, 8, ns);
  write16(w, 10, ar);
}

std::uint16_t responseFlags(std::uint16_t queryFlags, Rcode rcode) {
  const std::uint16_t kept = queryFlags & (0x7800 | flag::kRd | flag::kCd);  // opcode, RD, CD
  return static_cast<std::uint16_t>(flag::kQr | flag::kRa | kept |
                                    static_cast<std::uint16_t>(rcode));
}

}  // namespace

std::string_view toString(QueryProblem problem) {
  switch (problem) {
    case QueryProblem::kTooShort:
      return "shorter than a DNS header";
    case QueryProblem::kNotAQuery:
      return "not a query (QR set)";
    case QueryProblem::kUnsupportedOpcode:
      return "opcode is not QUERY";
    case QueryProblem::kQuestionCount:
      return "not exactly one question";
    case QueryProblem::kBadName:
      return "malformed name";
    case QueryProblem::kTruncatedRecord:
      return "record runs past the end";
    case QueryProblem::kBadOpt:
      return "malformed or repeated OPT record";
    case QueryProblem::kTrailingBytes:
      return "bytes after the last record";
  }
  return "malformed";
}

std::variant<Query, QueryError> parseQuery(Wire w) {
  if (w.size() < kHeaderSize) return QueryError{QueryProblem::kTooShort};
  Query q;
  q.id = read16(w, 0);
  q.flags = read16(w, 2);
  auto error = [&](QueryProblem p) { return QueryError{p, q.id, q.flags}; };
  if ((q.flags & flag::kQr) != 0) return error(QueryProblem::kNotAQuery);
  if (q.opcode() != 0) return error(QueryProblem::kUnsupportedOpcode);
  if (read16(w, 4) != 1) return error(QueryProblem::kQuestionCount);
  const std::size_t records = std::size_t{read16(w, 6)} + read16(w, 8) + read16(w, 10);
  const std::size_t additionalFrom = std::size_t{read16(w, 6)} + read16(w, 8);

  auto afterName = readName(w, kHeaderSize, &q.name);
  if (!afterName) return error(QueryProblem::kBadName);
  if (*afterName + 4 > w.size()) return error(QueryProblem::kTruncatedRecord);
  q.qtype = read16(w, *afterName);
  q.qclass = read16(w, *afterName + 2);
  q.questionEnd = *afterName + 4;

  std::size_t pos = q.questionEnd;
  for (std::size_t i = 0; i < records; ++i) {
    auto r = readRecord(w, pos, nullptr);
    if (!r) return error(QueryProblem::kTruncatedRecord);
    if (r->type == rrtype::kOpt) {
      // One OPT, in the additional section, owned by the root.
      if (q.edns || i < additionalFrom || w[r->start] != 0) return error(QueryProblem::kBadOpt);
      q.edns = true;
      q.udpPayload = r->rclass;
      q.dnssecOk = (r->ttl & 0x8000) != 0;
    }
    pos = r->end;
  }
  if (pos != w.size()) return error(QueryProblem::kTrailingBytes);
  return q;
}

Result<ResponseInfo> scanResponse(Wire w) {
  auto bad = [](const char* what) {
    return makeError(ErrorCode::kInvalidInput, std::string("DNS response: ") + what);
  };
  if (w.size() < kHeaderSize) return bad("shorter than a header");
  ResponseInfo info;
  info.id = read16(w, 0);
  info.flags = read16(w, 2);
  const std::uint16_t qd = read16(w, 4);
  info.answerCount = read16(w, 6);
  const std::uint16_t ns = read16(w, 8);
  const std::uint16_t ar = read16(w, 10);
  if (qd != 1) return bad("not exactly one question");
  std::string qname;
  auto afterName = readName(w, kHeaderSize, &qname);
  if (!afterName || *afterName + 4 > w.size()) return bad("malformed question");
  info.questionEnd = *afterName + 4;

  // Owners whose addresses count: the query name and the targets of the
  // CNAME chain from it, so an answer cannot smuggle in unrelated addresses.
  std::vector<std::string> chain{qname};
  struct Address {
    std::string owner;
    net::IpAddress address;
  };
  std::vector<Address> candidates;

  std::size_t pos = info.questionEnd;
  const std::size_t total = std::size_t{info.answerCount} + ns + ar;
  for (std::size_t i = 0; i < total; ++i) {
    const std::uint8_t section =
        i < info.answerCount ? 1 : (i < std::size_t{info.answerCount} + ns ? 2 : 3);
    std::string owner;
    auto r = readRecord(w, pos, section == 1 ? &owner : nullptr);
    if (!r) return bad("record runs past the end or has a malformed name");
    if (r->type == rrtype::kOpt) {
      // Last, so lens-dns can replace it without moving any other record.
      if (section != 3 || info.optOffset || i + 1 != total)
        return bad("misplaced or repeated OPT record");
      info.optOffset = r->start;
      info.optLength = r->end - r->start;
      pos = r->end;
      continue;
    }
    info.records.push_back({r->ttlOffset, r->type, r->ttl, section});
    if (section == 1) {
      info.minAnswerTtl = std::min(info.minAnswerTtl.value_or(r->ttl), r->ttl);
      if (r->type == rrtype::kCname) {
        std::string target;
        // The target fills the record's data exactly, never beyond it.
        const auto after = readName(w.first(r->end), r->rdata, &target);
        if (!after || *after != r->end) return bad("malformed CNAME target");
        if (std::find(chain.begin(), chain.end(), owner) != chain.end())
          chain.push_back(std::move(target));
      } else if (r->type == rrtype::kA && r->rdlength == 4) {
        std::uint32_t v4 = read32(w, r->rdata);
        candidates.push_back({std::move(owner), net::IpAddress::fromV4(v4)});
      } else if (r->type == rrtype::kAaaa && r->rdlength == 16) {
        std::array<std::uint8_t, 16> bytes{};
        std::copy_n(w.begin() + static_cast<std::ptrdiff_t>(r->rdata), 16, bytes.begin());
        candidates.push_back({std::move(owner), net::IpAddress::fromV6(bytes)});
      }
    } else if (section == 2 && r->type == rrtype::kSoa) {
      const Wire record = w.first(r->end);
      auto afterMname = readName(record, r->rdata, nullptr);
      auto afterRname = afterMname ? readName(record, *afterMname, nullptr) : std::nullopt;
      if (!afterRname || *afterRname + 20 != r->end) return bad("malformed SOA record");
      const std::uint32_t minimum = read32(w, *afterRname + 16);
      info.negativeTtl = std::min(r->ttl, minimum);
    }
    pos = r->end;
  }
  if (pos != w.size()) return bad("bytes after the last record");
  for (auto& c : candidates) {
    if (std::find(chain.begin(), chain.end(), c.owner) != chain.end())
      info.addresses.push_back(c.address);
  }
  return info;
}

std::vector<std::uint8_t> responseHead(Wire queryWire, const Query& query, Rcode rcode) {
  std::vector<std::uint8_t> out(queryWire.begin(),
                                queryWire.begin() + static_cast<std::ptrdiff_t>(query.questionEnd));
  write16(out, 2, responseFlags(query.flags, rcode));
  setCounts(out, 1, 0, 0, 0);
  return out;
}

std::vector<std::uint8_t> emptyResponse(Wire queryWire, const Query& query, Rcode rcode) {
  return responseHead(queryWire, query, rcode);
}

std::vector<std::uint8_t> notImplemented(std::uint16_t id, std::uint16_t queryFlags) {
  std::vector<std::uint8_t> out(kHeaderSize, 0);
  write16(out, 0, id);
  write16(out, 2, responseFlags(queryFlags, Rcode::kNotImp));
  return out;
}

std::vector<std::uint8_t> anyResponse(Wire queryWire, const Query& query) {
  std::vector<std::uint8_t> out = responseHead(queryWire, query, Rcode::kNoError);
  static constexpr std::uint8_t kHinfo[] = {
      0xC0, 0x0C,            // the question's name
      0x00, rrtype::kHinfo,  // type HINFO
      0x00, 0x01,            // class IN
      0x00, 0x00,
      0x0E, 0x10,  // TTL 3600
      0x00, 0x09,  // rdlength
      0x07, 'R',
      'F',  'C',
      '8',  '4',
      '8',  '2',
      0x00,
  };
  out.insert(out.end(), std::begin(kHinfo), std::end(kHinfo));
  write16(out, 6, 1);
  return out;
}

void stripOpt(std::vector<std::uint8_t>& wire, ResponseInfo& info) {
  if (!info.optOffset) return;
  // scanResponse accepts an OPT only as the last record: cut the tail.
  wire.resize(*info.optOffset);
  write16(wire, 10, static_cast<std::uint16_t>(read16(wire, 10) - 1));
  info.optOffset.reset();
  info.optLength = 0;
}

void appendOpt(std::vector<std::uint8_t>& wire, bool dnssecOk) {
  const std::uint8_t opt[] = {
      0x00,  // root
      0x00,
      rrtype::kOpt,  // type OPT
      static_cast<std::uint8_t>(kOurUdpPayload >> 8),
      static_cast<std::uint8_t>(kOurUdpPayload & 0xff),
      0x00,
      0x00,
      static_cast<std::uint8_t>(dnssecOk ? 0x80 : 0x00),
      0x00,  // ext-rcode, version, DO
      0x00,
      0x00,  // no options
  };
  wire.insert(wire.end(), std::begin(opt), std::end(opt));
  write16(wire, 10, static_cast<std::uint16_t>(read16(wire, 10) + 1));
}

std::vector<std::uint8_t> truncatedResponse(Wire wire, std::size_t questionEnd,
                                            const Query& query) {
  std::vector<std::uint8_t> out(wire.begin(),
                                wire.begin() + static_cast<std::ptrdiff_t>(questionEnd));
  write16(out, 2, static_cast<std::uint16_t>(read16(out, 2) | flag::kTc));
  setCounts(out, 1, 0, 0, 0);
  if (query.edns) appendOpt(out, query.dnssecOk);
  return out;
}

}  // namespace lens::dns
