//! [`ServiceSpec`] <-> `IPVS_SVC_ATTR_*` (pure: no I/O).
//!
//! Encoding order follows the kernel's numbering (AF, PROTOCOL, ADDR, PORT | FWMARK, SCHED_NAME,
//! FLAGS, TIMEOUT, NETMASK, PE_NAME), which makes golden fixtures stable. FLAGS always carries
//! mask `0xffffffff` and never HASHED; decoding masks HASHED out.

use lb_config::{Protocol, ServiceKey};

use super::addr::{
    addr_from_wire, addr_to_wire, family_from_raw, family_to_raw, netmask_from_wire,
    netmask_to_wire,
};
use super::decode_error;
use super::stats::stats_from_attributes;
use crate::IpvsError;
use crate::model::{Family, IP_VS_SVC_F_HASHED, ServiceId, ServiceSpec, Stats};
use crate::netlink::constants::{IP_VS_PENAME_MAXLEN, IP_VS_SCHEDNAME_MAXLEN};
use crate::netlink::service_attr::{IpVsFlags, ServiceAttribute};

const CONTEXT: &str = "service attributes";

/// The family of a service identity.
pub(crate) fn service_family(id: &ServiceId) -> Family {
    match id {
        ServiceId::Inet(k) => Family::of(&k.vip),
        ServiceId::Fwmark { family, .. } => *family,
    }
}

/// The identifying attributes (what DEL_SERVICE, GET_SERVICE and the DEST commands carry).
pub fn service_identity_attributes(id: &ServiceId) -> Vec<ServiceAttribute> {
    let af = ServiceAttribute::Af(family_to_raw(service_family(id)));
    match id {
        ServiceId::Inet(k) => vec![
            af,
            ServiceAttribute::Protocol(u16::from(k.protocol.number())),
            ServiceAttribute::Addr(addr_to_wire(&k.vip)),
            ServiceAttribute::Port(k.port),
        ],
        ServiceId::Fwmark { mark, .. } => vec![af, ServiceAttribute::Fwmark(*mark)],
    }
}

/// Checks a name fits the kernel's fixed buffer (NUL included) and has no NUL inside.
fn check_name(spec: &ServiceSpec, what: &str, name: &str, max: usize) -> Result<(), IpvsError> {
    if name.is_empty() || name.len() >= max || name.contains('\0') {
        return Err(IpvsError::Unsupported {
            object: spec.id.to_string(),
            detail: format!("{what} {name:?} must be 1..{} bytes without NUL", max - 1),
        });
    }
    Ok(())
}

/// The full attribute set of NEW_SERVICE / SET_SERVICE.
pub fn service_attributes(spec: &ServiceSpec) -> Result<Vec<ServiceAttribute>, IpvsError> {
    let family = service_family(&spec.id);
    check_name(spec, "scheduler", &spec.scheduler, IP_VS_SCHEDNAME_MAXLEN)?;
    if let Some(pe) = &spec.pe_name {
        check_name(spec, "persistence engine", pe, IP_VS_PENAME_MAXLEN)?;
    }
    let netmask =
        netmask_to_wire(family, spec.netmask_prefix).ok_or_else(|| IpvsError::Unsupported {
            object: spec.id.to_string(),
            detail: format!(
                "netmask prefix /{} too long for {family:?}",
                spec.netmask_prefix
            ),
        })?;
    let mut attributes = service_identity_attributes(&spec.id);
    attributes.extend([
        ServiceAttribute::SchedName(spec.scheduler.to_string()),
        ServiceAttribute::Flags(IpVsFlags {
            flags: spec.flags & !IP_VS_SVC_F_HASHED,
            mask: u32::MAX,
        }),
        ServiceAttribute::Timeout(spec.timeout),
        ServiceAttribute::Netmask(netmask),
    ]);
    if let Some(pe) = &spec.pe_name {
        attributes.push(ServiceAttribute::PeName(pe.clone()));
    }
    Ok(attributes)
}

/// The attributes of a service reply, collected by kind (last one wins, as in the kernel).
#[derive(Default)]
struct Collected<'a> {
    af: Option<u16>,
    protocol: Option<u16>,
    addr: Option<&'a [u8]>,
    port: Option<u16>,
    fwmark: Option<u32>,
    sched: Option<&'a str>,
    flags: Option<IpVsFlags>,
    timeout: Option<u32>,
    netmask: Option<u32>,
    pe_name: Option<&'a str>,
    stats: Option<Stats>,
    stats64: Option<Stats>,
}

fn collect(attributes: &[ServiceAttribute]) -> Collected<'_> {
    let mut c = Collected::default();
    for attribute in attributes {
        match attribute {
            ServiceAttribute::Af(v) => c.af = Some(*v),
            ServiceAttribute::Protocol(v) => c.protocol = Some(*v),
            ServiceAttribute::Addr(v) => c.addr = Some(v),
            ServiceAttribute::Port(v) => c.port = Some(*v),
            ServiceAttribute::Fwmark(v) => c.fwmark = Some(*v),
            ServiceAttribute::SchedName(v) => c.sched = Some(v),
            ServiceAttribute::Flags(v) => c.flags = Some(*v),
            ServiceAttribute::Timeout(v) => c.timeout = Some(*v),
            ServiceAttribute::Netmask(v) => c.netmask = Some(*v),
            ServiceAttribute::PeName(v) => c.pe_name = Some(v),
            ServiceAttribute::Stats(v) => c.stats = Some(stats_from_attributes(v)),
            ServiceAttribute::Stats64(v) => c.stats64 = Some(stats_from_attributes(v)),
            ServiceAttribute::Other(_) => {}
        }
    }
    c
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, IpvsError> {
    value.ok_or_else(|| decode_error(CONTEXT, format!("missing {name}")))
}

/// Decodes the identity from collected attributes: FWMARK (non-zero) wins, as in the kernel.
fn identity(c: &Collected<'_>, family: Family) -> Result<ServiceId, IpvsError> {
    if let Some(mark) = c.fwmark.filter(|m| *m != 0) {
        return Ok(ServiceId::Fwmark { family, mark });
    }
    let raw_protocol = required(c.protocol, "IPVS_SVC_ATTR_PROTOCOL")?;
    let protocol = u8::try_from(raw_protocol)
        .ok()
        .and_then(Protocol::from_number)
        .ok_or_else(|| decode_error(CONTEXT, format!("unknown protocol {raw_protocol}")))?;
    let vip = addr_from_wire(CONTEXT, family, required(c.addr, "IPVS_SVC_ATTR_ADDR")?)?;
    let port = required(c.port, "IPVS_SVC_ATTR_PORT")?;
    Ok(ServiceId::Inet(ServiceKey {
        vip,
        protocol,
        port,
    }))
}

/// Decodes a service reply; counters from STATS64, else legacy STATS, else zero.
pub fn service_from_attributes(
    attributes: &[ServiceAttribute],
) -> Result<(ServiceSpec, Stats), IpvsError> {
    let c = collect(attributes);
    let family = family_from_raw(CONTEXT, required(c.af, "IPVS_SVC_ATTR_AF")?)?;
    let id = identity(&c, family)?;
    let netmask = required(c.netmask, "IPVS_SVC_ATTR_NETMASK")?;
    let spec = ServiceSpec {
        id,
        scheduler: required(c.sched, "IPVS_SVC_ATTR_SCHED_NAME")?
            .to_owned()
            .into(),
        flags: required(c.flags, "IPVS_SVC_ATTR_FLAGS")?.flags & !IP_VS_SVC_F_HASHED,
        timeout: required(c.timeout, "IPVS_SVC_ATTR_TIMEOUT")?,
        netmask_prefix: netmask_from_wire(CONTEXT, family, netmask)?,
        pe_name: c.pe_name.map(str::to_owned),
    };
    let stats = c.stats64.or(c.stats).unwrap_or_default();
    Ok((spec, stats))
}
