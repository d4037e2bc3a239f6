//! Resolving the dynamic id of the "IPVS" generic-netlink family through `nlctrl`
//! (CTRL_CMD_GETFAMILY). Encoding and decoding are pure; `resolve_family` does one exchange on
//! the transport it is given.

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};

use super::constants::IPVS_GENL_NAME;
use super::convert::decode_error;
use super::errno::kernel_error;
use super::reply::split_frames;
use super::requests::FLAGS_ACKED;
use super::transport::NetlinkTransport;
use crate::IpvsError;

/// errno the controller returns for an unregistered family.
const ENOENT: i32 = 2;

type CtrlPacket = NetlinkMessage<GenlMessage<GenlCtrl>>;

/// The CTRL_CMD_GETFAMILY request for "IPVS".
pub fn encode_family_request(sequence: u32) -> Vec<u8> {
    let ctrl = GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(IPVS_GENL_NAME.to_owned())],
    };
    let mut header = NetlinkHeader::default();
    header.flags = FLAGS_ACKED;
    header.sequence_number = sequence;
    let mut packet = NetlinkMessage::new(header, GenlMessage::from_payload(ctrl).into());
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    bytes
}

/// What one received controller message means for the resolution.
enum CtrlEvent {
    FamilyId(u16),
    Ack,
    Failed(i32),
    Ignored,
}

fn ctrl_event(frame: &[u8], sequence: u32) -> Result<CtrlEvent, IpvsError> {
    let packet =
        CtrlPacket::deserialize(frame).map_err(|e| decode_error("nlctrl reply", e.to_string()))?;
    if packet.header.sequence_number != sequence {
        return Ok(CtrlEvent::Ignored);
    }
    Ok(match packet.payload {
        NetlinkPayload::InnerMessage(genl) => genl
            .payload
            .nlas
            .iter()
            .find_map(|nla| match nla {
                GenlCtrlAttrs::FamilyId(id) => Some(CtrlEvent::FamilyId(*id)),
                _ => None,
            })
            .unwrap_or(CtrlEvent::Ignored),
        NetlinkPayload::Error(e) => match e.code {
            None => CtrlEvent::Ack,
            Some(code) => CtrlEvent::Failed(code.get()),
        },
        _ => CtrlEvent::Ignored,
    })
}

/// Asks the controller for the IPVS family id. ENOENT (module `ip_vs` not loaded, or no IPVS in
/// the kernel) is [`IpvsError::FamilyNotFound`].
pub fn resolve_family(
    transport: &mut dyn NetlinkTransport,
    sequence: u32,
) -> Result<u16, IpvsError> {
    transport
        .send(&encode_family_request(sequence))
        .map_err(|cause| IpvsError::Io {
            context: "sending CTRL_CMD_GETFAMILY",
            cause,
        })?;
    let mut family = None;
    let mut datagram = Vec::new();
    loop {
        transport.recv(&mut datagram).map_err(|cause| {
            if cause.kind() == std::io::ErrorKind::TimedOut {
                IpvsError::Timeout {
                    request: "CTRL_CMD_GETFAMILY",
                    object: IPVS_GENL_NAME.to_owned(),
                    after: transport.reply_timeout(),
                }
            } else {
                IpvsError::Io {
                    context: "receiving CTRL_CMD_GETFAMILY reply",
                    cause,
                }
            }
        })?;
        for frame in split_frames(&datagram)? {
            match ctrl_event(frame, sequence)? {
                CtrlEvent::FamilyId(id) => family = Some(id),
                CtrlEvent::Ack => {
                    return family.ok_or_else(|| {
                        decode_error("nlctrl reply", "acknowledged without CTRL_ATTR_FAMILY_ID")
                    });
                }
                CtrlEvent::Failed(code) if code.checked_abs() == Some(ENOENT) => {
                    return Err(IpvsError::FamilyNotFound);
                }
                CtrlEvent::Failed(code) => {
                    return Err(kernel_error("CTRL_CMD_GETFAMILY", &IPVS_GENL_NAME, code));
                }
                CtrlEvent::Ignored => {}
            }
        }
    }
}
