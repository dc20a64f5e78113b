#include "libcommon/decision/cidr_index.h"

#include <algorithm>
#include <array>
#include <bit>
#include <utility>

namespace lens::decision {

namespace {

using Key = std::array<std::uint8_t, 16>;

bool keyBit(const Key& key, int i) {
  return ((key[static_cast<std::size_t>(i / 8)] >> (7 - i % 8)) & 1u) != 0;
}

// Number of leading bits a and b share, at most `limit`.
int commonPrefix(const Key& a, const Key& b, int limit) {
  int bits = 0;
  for (std::size_t i = 0; i < a.size() && bits < limit; ++i) {
    const auto diff = static_cast<std::uint8_t>(a[i] ^ b[i]);
    if (diff != 0) {
      bits += std::countl_zero(diff);
      break;
    }
    bits += 8;
  }
  return std::min(bits, limit);
}

Key maskKey(Key key, int prefixLength) {
  for (std::size_t i = 0; i < key.size(); ++i) {
    const int bitsHere = prefixLength - static_cast<int>(i) * 8;
    if (bitsHere >= 8) continue;
    key[i] = bitsHere <= 0 ? std::uint8_t{0}
                           : static_cast<std::uint8_t>(key[i] & (0xffu << (8 - bitsHere)));
  }
  return key;
}

}  // namespace

// A path-compressed binary trie: a node exists only where a prefix was
// inserted or where two inserted prefixes part ways, so n prefixes need at
// most 2n nodes. Along any path the prefix lengths strictly grow, so a
// lookup visits at most 33 (IPv4) or 129 (IPv6) nodes.
struct CidrIndex::Node {
  Key key{};  // the prefix bits, cleared below `length`
  int length = 0;
  std::vector<std::uint32_t> ids;  // rules for exactly this prefix, in insertion order
  std::array<std::unique_ptr<Node>, 2> children;  // by the bit at position `length`
};

namespace {

// Frees a trie without recursion proportional to its depth.
template <class NodeT>
void destroyTrie(std::unique_ptr<NodeT> root) {
  std::vector<std::unique_ptr<NodeT>> pending;
  if (root) pending.push_back(std::move(root));
  while (!pending.empty()) {
    std::unique_ptr<NodeT> node = std::move(pending.back());
    pending.pop_back();
    for (auto& child : node->children) {
      if (child) pending.push_back(std::move(child));
    }
  }
}

template <class NodeT>
void insertInto(std::unique_ptr<NodeT>& root, const Key& key, int length, std::uint32_t id,
                std::size_t& size) {
  auto makeLeaf = [&] {
    auto leaf = std::make_unique<NodeT>();
    leaf->key = key;
    leaf->length = length;
    leaf->ids.push_back(id);
    ++size;
    return leaf;
  };

  std::unique_ptr<NodeT>* slot = &root;
  for (;;) {
    NodeT* node = slot->get();
    if (node == nullptr) {
      *slot = makeLeaf();
      return;
    }
    const int common = commonPrefix(node->key, key, std::min(node->length, length));
    if (common == node->length && common == length) {  // the same prefix
      // A rule that lists the same prefix twice is inserted back to back;
      // checking only the last id keeps a crowded prefix O(1) per insert.
      if (node->ids.empty() || node->ids.back() != id) {
        node->ids.push_back(id);
        ++size;
      }
      return;
    }
    if (common == node->length) {  // node's prefix contains the new one: go down
      slot = &node->children[keyBit(key, node->length) ? 1 : 0];
      continue;
    }
    if (common == length) {  // the new prefix contains node's: put it above
      auto leaf = makeLeaf();
      leaf->children[keyBit(node->key, length) ? 1 : 0] = std::move(*slot);
      *slot = std::move(leaf);
      return;
    }
    // They part ways at bit `common`: a branch node holds both.
    auto branch = std::make_unique<NodeT>();
    branch->key = maskKey(key, common);
    branch->length = common;
    const bool newGoesRight = keyBit(key, common);
    branch->children[newGoesRight ? 0 : 1] = std::move(*slot);
    branch->children[newGoesRight ? 1 : 0] = makeLeaf();
    *slot = std::move(branch);
    return;
  }
}

template <class NodeT>
void collectFrom(const NodeT* node, const Key& key, int bitLength,
                 std::vector<std::uint32_t>& out) {
  while (node != nullptr && commonPrefix(node->key, key, node->length) == node->length) {
    out.insert(out.end(), node->ids.begin(), node->ids.end());
    if (node->length >= bitLength) return;
    node = node->children[keyBit(key, node->length) ? 1 : 0].get();
  }
}

}  // namespace

CidrIndex::CidrIndex() = default;

CidrIndex::~CidrIndex() {
  destroyTrie(std::move(v4_));
  destroyTrie(std::move(v6_));
}

CidrIndex::CidrIndex(CidrIndex&& other) noexcept
    : v4_(std::move(other.v4_)), v6_(std::move(other.v6_)), size_(std::exchange(other.size_, 0)) {}

CidrIndex& CidrIndex::operator=(CidrIndex&& other) noexcept {
  if (this != &other) {
    destroyTrie(std::exchange(v4_, std::move(other.v4_)));
    destroyTrie(std::exchange(v6_, std::move(other.v6_)));
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void CidrIndex::insert(const net::Cidr& cidr, std::uint32_t id) {
  // Cidr has already turned IPv4-mapped prefixes into IPv4 ones and cleared
  // the host bits; mask again so a node's key never carries stray bits.
  const Key key = maskKey(cidr.network().bytes(), cidr.prefixLength());
  insertInto(cidr.network().isV4() ? v4_ : v6_, key, cidr.prefixLength(), id, size_);
}

void CidrIndex::collect(const net::IpAddress& address, std::vector<std::uint32_t>& out) const {
  // Same answer as Cidr::contains for every inserted prefix: an IPv4 prefix
  // matches an IPv4 address or the IPv4 inside a mapped/compatible IPv6 one;
  // an IPv6 prefix matches an IPv6 address bit for bit.
  if (address.isV4()) {
    collectFrom(v4_.get(), address.bytes(), 32, out);
    return;
  }
  if (const auto embedded = address.embeddedV4()) {
    collectFrom(v4_.get(), embedded->bytes(), 32, out);
  }
  collectFrom(v6_.get(), address.bytes(), 128, out);
}

}  // namespace lens::decision
