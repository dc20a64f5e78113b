#pragma once

namespace lens {

// Whether the calling thread holds the capability (e.g. CAP_NET_ADMIN from
// <linux/capability.h>) in its effective set.
bool hasEffectiveCapability(int capability);

}  // namespace lens
