//! Attributes nested in `IPVS_CMD_ATTR_DAEMON`, and their conversion to and from
//! [`SyncDaemon`] (pure: no I/O).
//!
//! Wire facts (kernel `ip_vs_genl_new_daemon`, `ip_vs_genl_fill_daemon`): STATE, SYNC_ID u32;
//! MCAST_IFN a NUL-terminated name; SYNC_MAXLEN and MCAST_PORT native u16 (not network
//! order, unlike service ports); MCAST_GROUP the four address bytes, MCAST_GROUP6 sixteen;
//! MCAST_TTL u8. STATE, MCAST_IFN and SYNC_ID are required to start a daemon; the rest
//! default in the kernel when absent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lb_config::SyncRole;
use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, NlasIterator, Parseable};

use super::constants::*;
use super::wire::*;
use crate::sync_daemon::SyncDaemon;

/// One `IPVS_DAEMON_ATTR_*` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAttribute {
    /// `STATE`: `IP_VS_STATE_MASTER` or `IP_VS_STATE_BACKUP`.
    State(u32),
    /// `MCAST_IFN`: the multicast interface.
    Interface(String),
    /// `SYNC_ID` (u32; the protocol carries one byte).
    SyncId(u32),
    /// `SYNC_MAXLEN` (u16).
    MaxLen(u16),
    /// `MCAST_GROUP` (IPv4).
    Group(Ipv4Addr),
    /// `MCAST_GROUP6` (IPv6).
    Group6(Ipv6Addr),
    /// `MCAST_PORT` (native u16).
    Port(u16),
    /// `MCAST_TTL` (u8).
    Ttl(u8),
    /// Anything else, kept verbatim.
    Other(DefaultNla),
}

impl Nla for DaemonAttribute {
    fn value_len(&self) -> usize {
        use DaemonAttribute::*;
        match self {
            State(_) | SyncId(_) | Group(_) => 4,
            Interface(name) => name.len() + 1,
            MaxLen(_) | Port(_) => 2,
            Group6(_) => 16,
            Ttl(_) => 1,
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DaemonAttribute::*;
        match self {
            State(_) => IPVS_DAEMON_ATTR_STATE,
            Interface(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            MaxLen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            Group(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            Group6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            Port(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            Ttl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use DaemonAttribute::*;
        match self {
            State(v) | SyncId(v) => write_bytes(buffer, &v.to_ne_bytes()),
            Interface(name) => write_cstring(buffer, name),
            MaxLen(v) | Port(v) => write_bytes(buffer, &v.to_ne_bytes()),
            Group(addr) => write_bytes(buffer, &addr.octets()),
            Group6(addr) => write_bytes(buffer, &addr.octets()),
            Ttl(v) => write_bytes(buffer, &[*v]),
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for DaemonAttribute {
    fn parse(buf: &NlaBuffer<&T>) -> Result<Self, DecodeError> {
        use DaemonAttribute::*;
        let p = buf.value();
        let octets = |what: &str, len: usize| -> Result<Vec<u8>, DecodeError> {
            if p.len() == len {
                Ok(p.to_vec())
            } else {
                Err(DecodeError::from(format!(
                    "{what}: expected {len} bytes, got {}",
                    p.len()
                )))
            }
        };
        Ok(match buf.kind() {
            IPVS_DAEMON_ATTR_STATE => State(read_u32("IPVS_DAEMON_ATTR_STATE", p)?),
            IPVS_DAEMON_ATTR_MCAST_IFN => Interface(read_cstring("IPVS_DAEMON_ATTR_MCAST_IFN", p)?),
            IPVS_DAEMON_ATTR_SYNC_ID => SyncId(read_u32("IPVS_DAEMON_ATTR_SYNC_ID", p)?),
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => MaxLen(read_u16("IPVS_DAEMON_ATTR_SYNC_MAXLEN", p)?),
            IPVS_DAEMON_ATTR_MCAST_GROUP => {
                let b = octets("IPVS_DAEMON_ATTR_MCAST_GROUP", 4)?;
                Group(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => {
                let b = octets("IPVS_DAEMON_ATTR_MCAST_GROUP6", 16)?;
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&b);
                Group6(Ipv6Addr::from(bytes))
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => Port(read_u16("IPVS_DAEMON_ATTR_MCAST_PORT", p)?),
            IPVS_DAEMON_ATTR_MCAST_TTL => Ttl(read_u8("IPVS_DAEMON_ATTR_MCAST_TTL", p)?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Parses the payload of `IPVS_CMD_ATTR_DAEMON`.
pub(crate) fn parse_daemon_attributes(payload: &[u8]) -> Result<Vec<DaemonAttribute>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| DaemonAttribute::parse(&nla)))
        .collect()
}

fn state_of(role: SyncRole) -> u32 {
    match role {
        SyncRole::Master => IP_VS_STATE_MASTER,
        SyncRole::Backup => IP_VS_STATE_BACKUP,
    }
}

/// The attributes that start `daemon`; a size of 0 and an unset group are left to the kernel.
pub fn daemon_attributes(daemon: &SyncDaemon) -> Vec<DaemonAttribute> {
    use DaemonAttribute::*;
    let mut attrs = vec![
        State(state_of(daemon.role)),
        Interface(daemon.interface.clone()),
        SyncId(daemon.sync_id),
    ];
    if let Some(bytes) = daemon.max_message_bytes.filter(|&b| b > 0) {
        attrs.push(MaxLen(bytes));
    }
    match daemon.group {
        Some(IpAddr::V4(group)) => attrs.push(Group(group)),
        Some(IpAddr::V6(group)) => attrs.push(Group6(group)),
        None => {}
    }
    attrs.extend(daemon.port.map(Port));
    attrs.extend(daemon.ttl.map(Ttl));
    attrs
}

/// The attributes that stop the daemon of `role`.
pub fn daemon_role_attributes(role: SyncRole) -> Vec<DaemonAttribute> {
    vec![DaemonAttribute::State(state_of(role))]
}

/// A daemon from the kernel's report; fields the kernel left out are `None`.
pub fn daemon_from_attributes(attrs: &[DaemonAttribute]) -> Result<SyncDaemon, DecodeError> {
    use DaemonAttribute::*;
    let mut role = None;
    let mut interface = None;
    let mut sync_id = None;
    let mut daemon = SyncDaemon {
        role: SyncRole::Master,
        interface: String::new(),
        sync_id: 0,
        max_message_bytes: None,
        group: None,
        port: None,
        ttl: None,
    };
    for attr in attrs {
        match attr {
            State(IP_VS_STATE_MASTER) => role = Some(SyncRole::Master),
            State(IP_VS_STATE_BACKUP) => role = Some(SyncRole::Backup),
            State(other) => {
                return Err(DecodeError::from(format!(
                    "IPVS_DAEMON_ATTR_STATE: unknown state {other}"
                )));
            }
            Interface(name) => interface = Some(name.clone()),
            SyncId(id) => sync_id = Some(*id),
            MaxLen(bytes) => daemon.max_message_bytes = Some(*bytes),
            Group(group) => daemon.group = Some(IpAddr::V4(*group)),
            Group6(group) => daemon.group = Some(IpAddr::V6(*group)),
            Port(port) => daemon.port = Some(*port),
            Ttl(ttl) => daemon.ttl = Some(*ttl),
            Other(_) => {}
        }
    }
    let missing = |what: &str| DecodeError::from(format!("sync daemon report without {what}"));
    daemon.role = role.ok_or_else(|| missing("IPVS_DAEMON_ATTR_STATE"))?;
    daemon.interface = interface.ok_or_else(|| missing("IPVS_DAEMON_ATTR_MCAST_IFN"))?;
    daemon.sync_id = sync_id.ok_or_else(|| missing("IPVS_DAEMON_ATTR_SYNC_ID"))?;
    Ok(daemon)
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::Emitable;

    use super::*;

    fn daemon() -> SyncDaemon {
        SyncDaemon {
            role: SyncRole::Backup,
            interface: "eth1".to_owned(),
            sync_id: 7,
            max_message_bytes: Some(1400),
            group: Some("239.1.2.3".parse().unwrap()),
            port: Some(8848),
            ttl: Some(2),
        }
    }

    #[test]
    fn a_daemon_survives_the_wire_both_ways() {
        // Mutation: a port in network order, a group in host order, or a missing NUL after
        // the interface name changes the bytes below.
        let attrs = daemon_attributes(&daemon());
        let mut bytes = vec![0u8; attrs.as_slice().buffer_len()];
        attrs.as_slice().emit(&mut bytes);
        let parsed = parse_daemon_attributes(&bytes).unwrap();
        assert_eq!(parsed, attrs);
        assert_eq!(daemon_from_attributes(&parsed).unwrap(), daemon());
        // STATE 2 (backup), then "eth1\0" padded to 8, then SYNC_ID 7.
        assert_eq!(&bytes[..8], [8, 0, 1, 0, 2, 0, 0, 0]);
        assert_eq!(
            &bytes[8..20],
            [9, 0, 2, 0, b'e', b't', b'h', b'1', 0, 0, 0, 0]
        );
        let port = attrs
            .iter()
            .position(|a| matches!(a, DaemonAttribute::Port(_)));
        assert!(port.is_some());
        assert!(bytes.windows(4).any(|w| w == [239, 1, 2, 3]));
        assert!(bytes.windows(2).any(|w| w == 8848u16.to_ne_bytes()));
    }

    #[test]
    fn kernel_defaults_are_not_sent() {
        let mut wanted = daemon();
        wanted.max_message_bytes = Some(0);
        wanted.group = None;
        let attrs = daemon_attributes(&wanted);
        assert!(!attrs.iter().any(|a| matches!(
            a,
            DaemonAttribute::MaxLen(_) | DaemonAttribute::Group(_) | DaemonAttribute::Group6(_)
        )));
    }

    #[test]
    fn bad_reports_are_errors() {
        // Mutation: defaulting a missing STATE to master would adopt a daemon that is not there.
        assert!(daemon_from_attributes(&[DaemonAttribute::SyncId(1)]).is_err());
        assert!(
            daemon_from_attributes(&[
                DaemonAttribute::State(3),
                DaemonAttribute::Interface("eth1".into()),
                DaemonAttribute::SyncId(1)
            ])
            .is_err()
        );
        let mut short = vec![0u8; 8];
        short[..2].copy_from_slice(&7u16.to_ne_bytes()); // length 7: 3 bytes of group
        short[2..4].copy_from_slice(&IPVS_DAEMON_ATTR_MCAST_GROUP.to_ne_bytes());
        assert!(parse_daemon_attributes(&short).is_err());
    }
}
