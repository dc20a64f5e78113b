#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "libcommon/net/ip_address.h"

namespace lens::decision {

// A binary prefix tree from CIDRs to rule ids. collect() appends the ids of
// every inserted prefix that contains the address, in at most 33 (IPv4) or
// 129 (IPv6) steps, independent of how many prefixes were inserted.
// IPv4-mapped IPv6 addresses are looked up as IPv4.
class CidrIndex {
 public:
  CidrIndex();
  ~CidrIndex();
  CidrIndex(CidrIndex&&) noexcept;
  CidrIndex& operator=(CidrIndex&&) noexcept;

  void insert(const net::Cidr& cidr, std::uint32_t id);
  void collect(const net::IpAddress& address, std::vector<std::uint32_t>& out) const;
  [[nodiscard]] bool empty() const { return size_ == 0; }

 private:
  struct Node;
  std::unique_ptr<Node> v4_;
  std::unique_ptr<Node> v6_;
  std::size_t size_ = 0;
};

}  // namespace lens::decision
