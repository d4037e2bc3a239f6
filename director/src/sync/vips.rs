//! Which VIPs belong on the interface after a pass (the async VIP step applies them).

use std::collections::BTreeSet;
use std::net::IpAddr;

use lb_ipvs_sync::IpvsTable;
use lb_ipvs_sync::reconcile::Scope;

/// Every desired VIP, and every managed VIP that still has a service in the kernel (draining,
/// or held back by the guard): a VIP is removed only when nothing serves it any more.
pub fn wanted_vips(
    desired: &BTreeSet<IpAddr>,
    after: &IpvsTable,
    scope: &Scope,
) -> BTreeSet<IpAddr> {
    let mut wanted = desired.clone();
    wanted.extend(
        after
            .services
            .keys()
            .filter_map(|id| id.inet())
            .filter(|key| scope.contains_addr(key.vip))
            .map(|key| key.vip),
    );
    wanted
}
