//! Kernel features the IPVS family gained after its netlink version froze at 1.2.1: the
//! version the kernel reports cannot tell them apart, so the kernel release gates them.
//!
//! Why a gate and not only the read-back: kernels before 5.2/5.3 ignore `TUN_*` silently, so a
//! GUE or GRE destination would be created as a plain IPIP one and forward traffic the real
//! server cannot decapsulate until the read-back noticed. Refusing before the write leaves the
//! kernel as it was and names the release needed. Every kernel-version check of the project
//! lives here; all is pure except [`kernel_version`], which reads the release.

use std::path::Path;

use serde::Serialize;

use crate::IpvsError;
use crate::model::{DestinationSpec, KernelForward};

use super::constants::{
    IP_VS_CONN_F_TUNNEL_TYPE_GRE as IPVS_TUNNEL_TYPE_GRE,
    IP_VS_CONN_F_TUNNEL_TYPE_GUE as IPVS_TUNNEL_TYPE_GUE,
};

/// The production root of the sysctl files, where `kernel/osrelease` names the release.
pub const PROC_SYS: &str = "/proc/sys";

/// A kernel release, `major.minor` (from `/proc/sys/kernel/osrelease`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct KernelVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl KernelVersion {
    /// Parses `6.1.0-28-cloud-amd64` style releases.
    pub fn parse(release: &str) -> Option<KernelVersion> {
        let mut parts = release.trim().split(['.', '-']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(KernelVersion { major, minor })
    }
}

/// Before 5.9, `conn_reuse_mode=1` with `conntrack=1` dropped the first SYN of a reused port.
pub const CONN_REUSE_WITH_CONNTRACK: KernelVersion = KernelVersion { major: 5, minor: 9 };

const GUE: KernelVersion = KernelVersion { major: 5, minor: 2 };
const GRE_AND_FLAGS: KernelVersion = KernelVersion { major: 5, minor: 3 };

/// The running kernel's version, from `ROOT/kernel/osrelease`.
// The one read of this module (see clippy.toml); the checks above and below are pure.
#[allow(clippy::disallowed_methods)]
pub fn kernel_version(root: &Path) -> Option<KernelVersion> {
    std::fs::read_to_string(root.join("kernel/osrelease"))
        .ok()
        .and_then(|text| KernelVersion::parse(&text))
}

/// `Ok` when `kernel` can program `dest` as written. An unknown kernel (`None`) is assumed to
/// be recent; the read-back still checks what it kept.
pub(crate) fn check_destination(
    object: &dyn std::fmt::Display,
    dest: &DestinationSpec,
    kernel: Option<KernelVersion>,
) -> Result<(), IpvsError> {
    let (Some(kernel), KernelForward::Tunnel, Some(tunnel)) = (kernel, dest.forward, dest.tunnel)
    else {
        return Ok(());
    };
    let needed = match tunnel.tun_type {
        IPVS_TUNNEL_TYPE_GRE => Some(("GRE tunnels", GRE_AND_FLAGS)),
        _ if tunnel.flags != 0 => Some(("tunnel checksum flags", GRE_AND_FLAGS)),
        IPVS_TUNNEL_TYPE_GUE => Some(("GUE tunnels", GUE)),
        _ => None,
    };
    match needed {
        Some((what, release)) if kernel < release => Err(IpvsError::Unsupported {
            object: object.to_string(),
            detail: format!(
                "{what} need Linux {}.{} or later; this kernel is {}.{} and would silently \
                 forward with plain IPIP instead",
                release.major, release.minor, kernel.major, kernel.minor
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TunnelSpec;
    use lb_config::RealServerKey;

    fn dest(tun_type: u8, port: u16, flags: u16) -> DestinationSpec {
        DestinationSpec {
            key: RealServerKey {
                addr: "10.0.1.1".parse().unwrap(),
                port: 80,
            },
            forward: KernelForward::Tunnel,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: Some(TunnelSpec {
                tun_type,
                port,
                flags,
            }),
        }
    }

    fn kernel(major: u32, minor: u32) -> Option<KernelVersion> {
        Some(KernelVersion { major, minor })
    }

    #[test]
    fn each_tunnel_feature_needs_its_release() {
        let ipip = dest(0, 0, 0);
        let gue = dest(IPVS_TUNNEL_TYPE_GUE, 6080, 0);
        let gue_csum = dest(IPVS_TUNNEL_TYPE_GUE, 6080, 1);
        let gre = dest(IPVS_TUNNEL_TYPE_GRE, 0, 0);
        let ok = |d: &DestinationSpec, k| check_destination(&"x", d, k).is_ok();
        assert!(ok(&ipip, kernel(4, 18)));
        assert!(!ok(&gue, kernel(4, 18)));
        assert!(ok(&gue, kernel(5, 2)));
        assert!(!ok(&gue_csum, kernel(5, 2)));
        assert!(ok(&gue_csum, kernel(5, 3)));
        assert!(!ok(&gre, kernel(5, 2)));
        assert!(ok(&gre, kernel(6, 1)));
        assert!(ok(&gre, None), "unknown kernels are assumed recent");
        let mut masq = gre.clone();
        masq.forward = KernelForward::Masq;
        assert!(
            ok(&masq, kernel(3, 10)),
            "tunnel settings only matter for tunnels"
        );
    }

    #[test]
    fn the_refusal_names_the_object_the_feature_and_both_releases() {
        let err = check_destination(
            &"TCP  10.0.0.1:80 -> 10.0.1.1:80",
            &dest(IPVS_TUNNEL_TYPE_GRE, 0, 0),
            kernel(4, 18),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "unsupported request on TCP  10.0.0.1:80 -> 10.0.1.1:80: GRE tunnels need Linux \
             5.3 or later; this kernel is 4.18 and would silently forward with plain IPIP \
             instead"
        );
    }
}
