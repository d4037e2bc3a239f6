//! The announce policy's input: per VIP, how many real servers can take traffic. Pure.
//!
//! Two sources, both required: the desired state (weights after health checks: a failing
//! real server has weight 0 there) says how many real servers are serving, and the kernel's
//! serving VIPs (a real server of weight > 0 in IPVS after the last sync) say that the table
//! really is programmed. A VIP the kernel does not serve counts 0 serving, whatever the
//! desired state says (not yet synced, sync failing); a VIP no longer desired is left out
//! (withdrawn) even while the kernel still drains it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use lb_bgp_announcer::VipServing;
use lb_config::DesiredState;

/// Per desired VIP: the largest number of real servers with weight > 0 among its services
/// (a VIP with several ports stays announced while one of them can serve; routers cannot
/// route per port), or 0 when the kernel does not serve it.
pub(crate) fn vip_serving(
    desired: &DesiredState,
    serving: &BTreeSet<IpAddr>,
) -> BTreeMap<IpAddr, VipServing> {
    let mut per_vip: BTreeMap<IpAddr, VipServing> = desired
        .vips
        .iter()
        .map(|vip| (*vip, VipServing::default()))
        .collect();
    for service in desired.services.values() {
        let vip = service.key.vip;
        let entry = per_vip.entry(vip).or_default();
        if !serving.contains(&vip) {
            continue;
        }
        let weighted = service
            .real_servers
            .values()
            .filter(|rs| rs.weight > 0)
            .count();
        let weighted = u32::try_from(weighted).unwrap_or(u32::MAX);
        entry.serving = entry.serving.max(weighted);
    }
    per_vip
}
