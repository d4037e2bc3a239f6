//! [`DestinationSpec`] <-> `IPVS_DEST_ATTR_*` (pure: no I/O).
//!
//! Requests always carry ADDR_FAMILY (Linux 3.18+; every supported kernel has it, older ones
//! ignore the unknown attribute). TUN_TYPE and TUN_PORT are sent only for tunnel destinations and
//! TUN_FLAGS only for non-IPIP tunnels, as keepalived does. Replies without ADDR_FAMILY take the
//! service's family.

use lb_config::RealServerKey;

use super::addr::{addr_from_wire, addr_to_wire, family_from_raw, family_to_raw};
use super::decode_error;
use super::stats::stats_from_attributes;
use crate::IpvsError;
use crate::model::{
    DestinationSpec, Family, KernelForward, ObservedDestination, Stats, TunnelSpec,
};
use crate::netlink::constants::{IP_VS_CONN_F_FWD_MASK, IP_VS_CONN_F_TUNNEL_TYPE_IPIP};
use crate::netlink::dest_attr::DestAttribute;

const CONTEXT: &str = "destination attributes";

/// The identifying attributes (what DEL_DEST carries): ADDR, PORT, ADDR_FAMILY.
pub fn dest_identity_attributes(key: &RealServerKey) -> Vec<DestAttribute> {
    vec![
        DestAttribute::Addr(addr_to_wire(&key.addr)),
        DestAttribute::Port(key.port),
        DestAttribute::AddrFamily(family_to_raw(Family::of(&key.addr))),
    ]
}

/// The full attribute set of NEW_DEST / SET_DEST.
pub fn dest_attributes(spec: &DestinationSpec) -> Result<Vec<DestAttribute>, IpvsError> {
    let forward = spec.forward.to_raw();
    if forward & !IP_VS_CONN_F_FWD_MASK != 0 {
        return Err(IpvsError::Unsupported {
            object: spec.key.to_string(),
            detail: format!("forwarding method {forward} does not fit IP_VS_CONN_F_FWD_MASK"),
        });
    }
    let mut attributes = vec![
        DestAttribute::Addr(addr_to_wire(&spec.key.addr)),
        DestAttribute::Port(spec.key.port),
        DestAttribute::FwdMethod(forward),
        DestAttribute::Weight(spec.weight),
        DestAttribute::UpperThreshold(spec.upper_threshold),
        DestAttribute::LowerThreshold(spec.lower_threshold),
        DestAttribute::AddrFamily(family_to_raw(Family::of(&spec.key.addr))),
    ];
    if let (KernelForward::Tunnel, Some(tunnel)) = (spec.forward, spec.tunnel) {
        attributes.push(DestAttribute::TunType(tunnel.tun_type));
        attributes.push(DestAttribute::TunPort(tunnel.port));
        if tunnel.tun_type != IP_VS_CONN_F_TUNNEL_TYPE_IPIP {
            attributes.push(DestAttribute::TunFlags(tunnel.flags));
        }
    }
    Ok(attributes)
}

/// What the kernel keeps of a destination, for comparing a write with its read-back: no tunnel
/// settings unless tunnelling; a tunnel without settings is plain IPIP (what the kernel
/// defaults to and reports on 5.2+); IPIP carries no flags (we do not send them).
pub fn normalize_destination(spec: &DestinationSpec) -> DestinationSpec {
    let mut out = spec.clone();
    out.tunnel = match spec.forward {
        KernelForward::Tunnel => {
            let mut tunnel = spec.tunnel.unwrap_or(TunnelSpec {
                tun_type: IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
                port: 0,
                flags: 0,
            });
            if tunnel.tun_type == IP_VS_CONN_F_TUNNEL_TYPE_IPIP {
                tunnel.flags = 0;
            }
            Some(tunnel)
        }
        _ => None,
    };
    out
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, IpvsError> {
    value.ok_or_else(|| decode_error(CONTEXT, format!("missing {name}")))
}

/// Decodes a destination reply. `service_family` is used when ADDR_FAMILY is absent (pre-3.18).
pub fn destination_from_attributes(
    attributes: &[DestAttribute],
    service_family: Family,
) -> Result<ObservedDestination, IpvsError> {
    let (mut addr, mut port, mut fwd, mut weight, mut upper, mut lower) =
        (None, None, None, None, None, None);
    let (mut af, mut tun_type, mut tun_port, mut tun_flags) = (None, None, None, None);
    let (mut active, mut inactive, mut persist) = (0, 0, 0);
    let (mut stats, mut stats64): (Option<Stats>, Option<Stats>) = (None, None);
    for attribute in attributes {
        match attribute {
            DestAttribute::Addr(v) => addr = Some(v.as_slice()),
            DestAttribute::Port(v) => port = Some(*v),
            DestAttribute::FwdMethod(v) => fwd = Some(*v),
            DestAttribute::Weight(v) => weight = Some(*v),
            DestAttribute::UpperThreshold(v) => upper = Some(*v),
            DestAttribute::LowerThreshold(v) => lower = Some(*v),
            DestAttribute::ActiveConns(v) => active = *v,
            DestAttribute::InactiveConns(v) => inactive = *v,
            DestAttribute::PersistConns(v) => persist = *v,
            DestAttribute::Stats(v) => stats = Some(stats_from_attributes(v)),
            DestAttribute::AddrFamily(v) => af = Some(*v),
            DestAttribute::Stats64(v) => stats64 = Some(stats_from_attributes(v)),
            DestAttribute::TunType(v) => tun_type = Some(*v),
            DestAttribute::TunPort(v) => tun_port = Some(*v),
            DestAttribute::TunFlags(v) => tun_flags = Some(*v),
            DestAttribute::Other(_) => {}
        }
    }
    let family = match af {
        Some(raw) => family_from_raw(CONTEXT, raw)?,
        None => service_family,
    };
    let key = RealServerKey {
        addr: addr_from_wire(CONTEXT, family, required(addr, "IPVS_DEST_ATTR_ADDR")?)?,
        port: required(port, "IPVS_DEST_ATTR_PORT")?,
    };
    let forward = KernelForward::from_raw(
        required(fwd, "IPVS_DEST_ATTR_FWD_METHOD")? & IP_VS_CONN_F_FWD_MASK,
    );
    let tunnel = match (forward, tun_type) {
        (KernelForward::Tunnel, Some(tun_type)) => Some(TunnelSpec {
            tun_type,
            port: tun_port.unwrap_or(0),
            flags: tun_flags.unwrap_or(0),
        }),
        _ => None,
    };
    Ok(ObservedDestination {
        spec: DestinationSpec {
            key,
            forward,
            weight: required(weight, "IPVS_DEST_ATTR_WEIGHT")?,
            upper_threshold: required(upper, "IPVS_DEST_ATTR_U_THRESH")?,
            lower_threshold: required(lower, "IPVS_DEST_ATTR_L_THRESH")?,
            tunnel,
        },
        active_conns: active,
        inactive_conns: inactive,
        persist_conns: persist,
        stats: stats64.or(stats).unwrap_or_default(),
    })
}
