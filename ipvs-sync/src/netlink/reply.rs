//! Replies: splitting received datagrams into netlink messages and decoding IPVS replies into
//! the model (pure: no I/O). Everything here takes arbitrary bytes and returns
//! `IpvsError::Decode` on garbage, never panics (the `ipvs_reply` fuzz target checks this).

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;

use super::attribute::IpvsAttribute;
use super::convert::{decode_error, destination_from_attributes, service_from_attributes};
use super::daemon_attr::daemon_from_attributes;
use super::errno::kernel_error;
use super::message::IpvsMessage;
use super::types::{IpvsInfo, Timeouts};
use crate::IpvsError;
use crate::model::{Family, ObservedDestination, ServiceSpec, Stats};
use crate::sync_daemon::SyncDaemon;

/// A decoded netlink message of an IPVS exchange.
pub(crate) type Packet = NetlinkMessage<GenlMessage<IpvsMessage>>;

/// Splits a datagram into its netlink messages (each `nlmsg_len` long, 4-byte aligned).
pub(crate) fn split_frames(datagram: &[u8]) -> Result<Vec<&[u8]>, IpvsError> {
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        let rest = &datagram[offset..];
        let buffer = NetlinkBuffer::new_checked(rest)
            .map_err(|e| decode_error("netlink framing", e.to_string()))?;
        let len = buffer.length() as usize;
        frames.push(&rest[..len]);
        offset = offset.saturating_add(len.saturating_add(3) & !3);
    }
    Ok(frames)
}

/// Decodes one netlink message of an IPVS exchange.
pub(crate) fn decode_frame(frame: &[u8]) -> Result<Packet, IpvsError> {
    Packet::deserialize(frame).map_err(|e| decode_error("IPVS reply", e.to_string()))
}

/// The IPVS messages of a reply buffer (one or more datagrams' worth of netlink messages).
/// ACKs, DONE and NOOP are skipped; an error code becomes `IpvsError::Kernel`.
pub fn parse_messages(bytes: &[u8]) -> Result<Vec<IpvsMessage>, IpvsError> {
    let mut messages = Vec::new();
    for frame in split_frames(bytes)? {
        match decode_frame(frame)?.payload {
            NetlinkPayload::InnerMessage(genl) => messages.push(genl.payload),
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(kernel_error("reply", &"", e.raw_code()));
            }
            NetlinkPayload::Done(d) if d.code < 0 => {
                return Err(kernel_error("reply", &"", d.code));
            }
            _ => {}
        }
    }
    Ok(messages)
}

/// The service of one NEW_SERVICE reply message.
pub fn service_from_message(message: &IpvsMessage) -> Result<(ServiceSpec, Stats), IpvsError> {
    let attributes = message.attributes.iter().find_map(|a| match a {
        IpvsAttribute::Service(s) => Some(s),
        _ => None,
    });
    match attributes {
        Some(s) => service_from_attributes(s),
        None => Err(decode_error("service reply", "no IPVS_CMD_ATTR_SERVICE")),
    }
}

/// The destination of one NEW_DEST reply message; `service_family` fills a missing ADDR_FAMILY.
pub fn destination_from_message(
    message: &IpvsMessage,
    service_family: Family,
) -> Result<ObservedDestination, IpvsError> {
    let attributes = message.attributes.iter().find_map(|a| match a {
        IpvsAttribute::Dest(d) => Some(d),
        _ => None,
    });
    match attributes {
        Some(d) => destination_from_attributes(d, service_family),
        None => Err(decode_error("destination reply", "no IPVS_CMD_ATTR_DEST")),
    }
}

/// The sync daemon of one GET_DAEMON reply message.
pub fn daemon_from_message(message: &IpvsMessage) -> Result<SyncDaemon, IpvsError> {
    let attributes = message.attributes.iter().find_map(|a| match a {
        IpvsAttribute::Daemon(d) => Some(d),
        _ => None,
    });
    match attributes {
        Some(d) => {
            daemon_from_attributes(d).map_err(|e| decode_error("sync daemon", e.to_string()))
        }
        None => Err(decode_error("sync daemon reply", "no IPVS_CMD_ATTR_DAEMON")),
    }
}

/// The GET_INFO reply (SET_INFO message).
pub fn info_from_message(message: &IpvsMessage) -> Result<IpvsInfo, IpvsError> {
    let (mut version, mut size) = (None, None);
    for attribute in &message.attributes {
        match attribute {
            IpvsAttribute::InfoVersion(v) => version = Some(*v),
            IpvsAttribute::InfoConnTabSize(v) => size = Some(*v),
            _ => {}
        }
    }
    Ok(IpvsInfo {
        version: version.ok_or_else(|| decode_error("info reply", "no IPVS_INFO_ATTR_VERSION"))?,
        conn_table_size: size
            .ok_or_else(|| decode_error("info reply", "no IPVS_INFO_ATTR_CONN_TAB_SIZE"))?,
    })
}

/// The GET_CONFIG reply (SET_CONFIG message). A timeout the kernel omits (protocol compiled
/// out) reads as 0.
pub fn timeouts_from_message(message: &IpvsMessage) -> Timeouts {
    let mut t = Timeouts::default();
    for attribute in &message.attributes {
        match attribute {
            IpvsAttribute::TimeoutTcp(v) => t.tcp = *v,
            IpvsAttribute::TimeoutTcpFin(v) => t.tcp_fin = *v,
            IpvsAttribute::TimeoutUdp(v) => t.udp = *v,
            _ => {}
        }
    }
    t
}

/// All services of a GET_SERVICE reply buffer.
pub fn parse_service_reply(bytes: &[u8]) -> Result<Vec<(ServiceSpec, Stats)>, IpvsError> {
    parse_messages(bytes)?
        .iter()
        .map(service_from_message)
        .collect()
}

/// All destinations of a GET_DEST reply buffer.
pub fn parse_dest_reply(
    bytes: &[u8],
    service_family: Family,
) -> Result<Vec<ObservedDestination>, IpvsError> {
    parse_messages(bytes)?
        .iter()
        .map(|m| destination_from_message(m, service_family))
        .collect()
}

/// Runs every reply decoder on `bytes` and returns how many succeeded. Why: the fuzz target's
/// single entry point; any panic in here is a bug.
pub fn decode_reply_for_fuzzing(bytes: &[u8]) -> usize {
    let mut ok = 0;
    ok += usize::from(parse_service_reply(bytes).is_ok());
    ok += usize::from(parse_dest_reply(bytes, Family::Inet).is_ok());
    ok += usize::from(parse_dest_reply(bytes, Family::Inet6).is_ok());
    if let Ok(messages) = parse_messages(bytes) {
        for message in &messages {
            ok += usize::from(info_from_message(message).is_ok());
            let _ = timeouts_from_message(message);
        }
    }
    ok
}
