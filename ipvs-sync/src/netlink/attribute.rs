//! Top-level attributes of an IPVS message (pure: no I/O).
//!
//! The numbering depends on the command: GET_INFO / SET_INFO messages carry
//! `IPVS_INFO_ATTR_VERSION` (1) and `IPVS_INFO_ATTR_CONN_TAB_SIZE` (2), which collide with
//! `IPVS_CMD_ATTR_SERVICE` / `IPVS_CMD_ATTR_DEST`, so the parser takes the command as context.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NLA_F_NESTED, Nla, NlaBuffer, NlasIterator, Parseable,
};

use super::command::IpvsCmd;
use super::constants::*;
use super::daemon_attr::{DaemonAttribute, parse_daemon_attributes};
use super::dest_attr::{DestAttribute, parse_dest_attributes};
use super::service_attr::{ServiceAttribute, parse_service_attributes};
use super::wire::{read_u32, write_bytes};

/// One top-level attribute (`IPVS_CMD_ATTR_*`, or `IPVS_INFO_ATTR_*` in info messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsAttribute {
    /// `IPVS_CMD_ATTR_SERVICE` (nested).
    Service(Vec<ServiceAttribute>),
    /// `IPVS_CMD_ATTR_DEST` (nested).
    Dest(Vec<DestAttribute>),
    /// `IPVS_CMD_ATTR_DAEMON` (nested): one sync daemon.
    Daemon(Vec<DaemonAttribute>),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP` (u32 seconds).
    TimeoutTcp(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN` (u32 seconds).
    TimeoutTcpFin(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_UDP` (u32 seconds).
    TimeoutUdp(u32),
    /// `IPVS_INFO_ATTR_VERSION` (u32, e.g. 0x010201).
    InfoVersion(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE` (u32).
    InfoConnTabSize(u32),
    /// Anything else, kept verbatim.
    Other(DefaultNla),
}

impl Nla for IpvsAttribute {
    fn value_len(&self) -> usize {
        use IpvsAttribute::*;
        match self {
            Service(nlas) => nlas.as_slice().buffer_len(),
            Dest(nlas) => nlas.as_slice().buffer_len(),
            Daemon(nlas) => nlas.as_slice().buffer_len(),
            TimeoutTcp(_) | TimeoutTcpFin(_) | TimeoutUdp(_) | InfoVersion(_)
            | InfoConnTabSize(_) => 4,
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use IpvsAttribute::*;
        match self {
            // Requests set NLA_F_NESTED (the modern form); the kernel accepts it with or without.
            Service(_) => IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED,
            Dest(_) => IPVS_CMD_ATTR_DEST | NLA_F_NESTED,
            Daemon(_) => IPVS_CMD_ATTR_DAEMON | NLA_F_NESTED,
            TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            InfoVersion(_) => IPVS_INFO_ATTR_VERSION,
            InfoConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use IpvsAttribute::*;
        match self {
            Service(nlas) => nlas.as_slice().emit(buffer),
            Dest(nlas) => nlas.as_slice().emit(buffer),
            Daemon(nlas) => nlas.as_slice().emit(buffer),
            TimeoutTcp(v) | TimeoutTcpFin(v) | TimeoutUdp(v) | InfoVersion(v)
            | InfoConnTabSize(v) => write_bytes(buffer, &v.to_ne_bytes()),
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

/// Whether a command's attributes use the `IPVS_INFO_ATTR_*` numbering.
fn is_info(cmd: IpvsCmd) -> bool {
    matches!(cmd, IpvsCmd::GetInfo | IpvsCmd::SetInfo)
}

/// Parses one top-level attribute in the numbering of `cmd`.
fn parse_attribute<T: AsRef<[u8]> + ?Sized>(
    cmd: IpvsCmd,
    buf: &NlaBuffer<&T>,
) -> Result<IpvsAttribute, DecodeError> {
    use IpvsAttribute::*;
    let p = buf.value();
    if is_info(cmd) {
        return Ok(match buf.kind() {
            IPVS_INFO_ATTR_VERSION => InfoVersion(read_u32("IPVS_INFO_ATTR_VERSION", p)?),
            IPVS_INFO_ATTR_CONN_TAB_SIZE => {
                InfoConnTabSize(read_u32("IPVS_INFO_ATTR_CONN_TAB_SIZE", p)?)
            }
            _ => Other(DefaultNla::parse(buf)?),
        });
    }
    Ok(match buf.kind() {
        IPVS_CMD_ATTR_SERVICE => Service(parse_service_attributes(p)?),
        IPVS_CMD_ATTR_DEST => Dest(parse_dest_attributes(p)?),
        IPVS_CMD_ATTR_DAEMON => Daemon(parse_daemon_attributes(p)?),
        IPVS_CMD_ATTR_TIMEOUT_TCP => TimeoutTcp(read_u32("IPVS_CMD_ATTR_TIMEOUT_TCP", p)?),
        IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => {
            TimeoutTcpFin(read_u32("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", p)?)
        }
        IPVS_CMD_ATTR_TIMEOUT_UDP => TimeoutUdp(read_u32("IPVS_CMD_ATTR_TIMEOUT_UDP", p)?),
        _ => Other(DefaultNla::parse(buf)?),
    })
}

/// Parses the attributes following a genl header of command `cmd`.
pub(crate) fn parse_attributes(
    cmd: IpvsCmd,
    payload: &[u8],
) -> Result<Vec<IpvsAttribute>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| parse_attribute(cmd, &nla)))
        .collect()
}
