//! When an observed object already equals its wanted table. Pure.
//!
//! Only the writable settings count; counters never do. The kernel-internal `HASHED` flag is
//! masked, an empty persistence-engine name equals none, and tunnel settings are compared after
//! [`normalized_tunnel`] (none unless tunnelling; IPIP when a tunnel reports nothing).

use crate::model::{DestinationSpec, IP_VS_SVC_F_HASHED, ServiceSpec};
use crate::wanted::normalized_tunnel;

/// Whether a service's settings match, so no `EditService` is needed.
pub fn same_service(want: &ServiceSpec, have: &ServiceSpec) -> bool {
    want.scheduler == have.scheduler
        && want.flags & !IP_VS_SVC_F_HASHED == have.flags & !IP_VS_SVC_F_HASHED
        && want.timeout == have.timeout
        && want.netmask_prefix == have.netmask_prefix
        && pe_name(want) == pe_name(have)
}

/// Whether a destination's settings match, so no `EditDestination` is needed.
pub fn same_destination(want: &DestinationSpec, have: &DestinationSpec) -> bool {
    want.forward == have.forward
        && want.weight == have.weight
        && want.upper_threshold == have.upper_threshold
        && want.lower_threshold == have.lower_threshold
        && normalized_tunnel(want) == normalized_tunnel(have)
}

fn pe_name(spec: &ServiceSpec) -> Option<&str> {
    spec.pe_name.as_deref().filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use lb_config::Protocol;

    use super::*;
    use crate::model::{KernelForward, TunnelSpec};
    use crate::test_util;
    use crate::wanted::TUNNEL_IPIP;

    fn svc() -> ServiceSpec {
        test_util::spec(test_util::svc("10.0.0.1", Protocol::Tcp, 80), "rr")
    }

    fn dest(forward: KernelForward, tunnel: Option<TunnelSpec>) -> DestinationSpec {
        DestinationSpec {
            forward,
            tunnel,
            ..test_util::dest(test_util::rs("10.0.1.1", 80), 1)
        }
    }

    #[test]
    fn hashed_flag_and_empty_pe_name_do_not_count() {
        let mut have = svc();
        have.flags = IP_VS_SVC_F_HASHED;
        have.pe_name = Some(String::new());
        assert!(same_service(&svc(), &have));
        have.scheduler = "wrr".into();
        assert!(!same_service(&svc(), &have));
        let mut have = svc();
        have.netmask_prefix = 24;
        assert!(!same_service(&svc(), &have));
    }

    #[test]
    fn ipip_equals_no_tunnel_settings_and_masq_ignores_tunnel_attrs() {
        let want = dest(KernelForward::Tunnel, None);
        assert!(same_destination(
            &want,
            &dest(KernelForward::Tunnel, Some(TUNNEL_IPIP))
        ));
        let gre = TunnelSpec {
            tun_type: 2,
            port: 0,
            flags: 0,
        };
        assert!(!same_destination(
            &want,
            &dest(KernelForward::Tunnel, Some(gre))
        ));
        // Kernels >= 5.2 report tun_type 0 for every destination.
        let masq = dest(KernelForward::Masq, None);
        assert!(same_destination(
            &masq,
            &dest(KernelForward::Masq, Some(TUNNEL_IPIP))
        ));
        let mut heavier = masq.clone();
        heavier.weight = 2;
        assert!(!same_destination(&masq, &heavier));
    }
}
