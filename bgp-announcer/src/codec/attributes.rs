//! Path attributes (RFC 4271 §4.3/§5, RFC 1997, RFC 4760, RFC 6793, RFC 8092): typed values,
//! strict decoding with the RFC 4271 §6.3 error for each fault, and encoding.
//!
//! Pure: no I/O. AS numbers in AS_PATH are 2 or 4 octets wide depending on whether both sides
//! announced the 4-octet AS capability, so both directions take `four_octet_as`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

use super::community::{Community, LargeCommunity};
use super::error::UpdateError;
use super::nlri;

const FLAG_OPTIONAL: u8 = 0x80;
const FLAG_TRANSITIVE: u8 = 0x40;
const FLAG_PARTIAL: u8 = 0x20;
const FLAG_EXTENDED_LENGTH: u8 = 0x10;

/// Attribute type codes we know.
pub mod type_code {
    /// ORIGIN (well-known mandatory).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (well-known mandatory).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (well-known mandatory for IPv4 NLRI).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (optional non-transitive).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (well-known, iBGP only).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (well-known discretionary).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (optional transitive).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITIES: u8 = 32;
}

/// Address family identifier for IPv4 (RFC 4760).
pub const AFI_IPV4: u16 = 1;
/// Address family identifier for IPv6.
pub const AFI_IPV6: u16 = 2;
/// Subsequent address family: unicast.
pub const SAFI_UNICAST: u8 = 1;
/// AS_TRANS (RFC 6793): stands in for a 4-octet AS where only 2 octets fit.
pub const AS_TRANS: u16 = 23456;

/// ORIGIN values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// Learned from an IGP / originated by us (what we always send).
    Igp,
    /// Learned from EGP.
    Egp,
    /// Learned some other way.
    Incomplete,
}

/// AS_PATH segment types (RFC 4271 and RFC 5065 confederation segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SegmentKind {
    /// AS_SET (1).
    Set,
    /// AS_SEQUENCE (2).
    Sequence,
    /// AS_CONFED_SEQUENCE (3).
    ConfedSequence,
    /// AS_CONFED_SET (4).
    ConfedSet,
}

/// One AS_PATH segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsSegment {
    /// Set or sequence.
    pub kind: SegmentKind,
    /// The AS numbers (1..=255 of them).
    pub asns: Vec<u32>,
}

/// MP_REACH_NLRI: routes of another family (we send IPv6 unicast this way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpReach {
    /// Address family.
    pub afi: u16,
    /// Subsequent address family.
    pub safi: u8,
    /// Global next hop, optionally followed by a link-local one (RFC 2545).
    pub next_hops: Vec<IpAddr>,
    /// The reachable prefixes (only decoded for IPv4/IPv6 unicast).
    pub nlri: Vec<IpNetwork>,
}

/// MP_UNREACH_NLRI: withdrawals of another family; empty = End-of-RIB for that family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpUnreach {
    /// Address family.
    pub afi: u16,
    /// Subsequent address family.
    pub safi: u8,
    /// The withdrawn prefixes.
    pub withdrawn: Vec<IpNetwork>,
}

/// One path attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathAttribute {
    /// ORIGIN.
    Origin(Origin),
    /// AS_PATH.
    AsPath(Vec<AsSegment>),
    /// NEXT_HOP for IPv4 NLRI in the UPDATE body.
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC.
    MultiExitDisc(u32),
    /// LOCAL_PREF.
    LocalPref(u32),
    /// ATOMIC_AGGREGATE.
    AtomicAggregate,
    /// AGGREGATOR.
    Aggregator {
        /// Aggregating AS.
        asn: u32,
        /// Aggregating router.
        address: Ipv4Addr,
    },
    /// COMMUNITIES.
    Communities(Vec<Community>),
    /// MP_REACH_NLRI.
    MpReach(MpReach),
    /// MP_UNREACH_NLRI.
    MpUnreach(MpUnreach),
    /// AS4_PATH.
    As4Path(Vec<AsSegment>),
    /// LARGE_COMMUNITY.
    LargeCommunities(Vec<LargeCommunity>),
    /// An optional attribute we do not interpret (kept so decoding is lossless).
    Unknown {
        /// Flags as received.
        flags: u8,
        /// Type code.
        type_code: u8,
        /// Value.
        value: Vec<u8>,
    },
}

impl PathAttribute {
    /// The attribute type code.
    pub fn type_code(&self) -> u8 {
        match self {
            PathAttribute::Origin(_) => type_code::ORIGIN,
            PathAttribute::AsPath(_) => type_code::AS_PATH,
            PathAttribute::NextHop(_) => type_code::NEXT_HOP,
            PathAttribute::MultiExitDisc(_) => type_code::MULTI_EXIT_DISC,
            PathAttribute::LocalPref(_) => type_code::LOCAL_PREF,
            PathAttribute::AtomicAggregate => type_code::ATOMIC_AGGREGATE,
            PathAttribute::Aggregator { .. } => type_code::AGGREGATOR,
            PathAttribute::Communities(_) => type_code::COMMUNITIES,
            PathAttribute::MpReach(_) => type_code::MP_REACH_NLRI,
            PathAttribute::MpUnreach(_) => type_code::MP_UNREACH_NLRI,
            PathAttribute::As4Path(_) => type_code::AS4_PATH,
            PathAttribute::LargeCommunities(_) => type_code::LARGE_COMMUNITIES,
            PathAttribute::Unknown { type_code, .. } => *type_code,
        }
    }
}

/// The flag bits (optional, transitive) a known type must carry; `None` for unknown types.
fn expected_flags(code: u8) -> Option<u8> {
    match code {
        type_code::ORIGIN
        | type_code::AS_PATH
        | type_code::NEXT_HOP
        | type_code::LOCAL_PREF
        | type_code::ATOMIC_AGGREGATE => Some(FLAG_TRANSITIVE),
        type_code::MULTI_EXIT_DISC | type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI => {
            Some(FLAG_OPTIONAL)
        }
        type_code::AGGREGATOR
        | type_code::COMMUNITIES
        | type_code::AS4_PATH
        | type_code::LARGE_COMMUNITIES => Some(FLAG_OPTIONAL | FLAG_TRANSITIVE),
        _ => None,
    }
}

/// Whether a malformed attribute is dropped with the UPDATE kept ("attribute discard"):
/// RFC 7606 §7.6 (ATOMIC_AGGREGATE) and §7.7 (AGGREGATOR) for a wrong length, RFC 6793 §6
/// for a malformed AS4_PATH. Flag errors are not covered by those rules and stay
/// treat-as-withdraw (RFC 7606 §3).
pub(crate) fn is_discarded_when_malformed(err: &UpdateError) -> bool {
    match err {
        UpdateError::AttributeLength { type_code, .. } => {
            *type_code == type_code::ATOMIC_AGGREGATE || *type_code == type_code::AGGREGATOR
        }
        UpdateError::OptionalAttribute { type_code, .. } => *type_code == type_code::AS4_PATH,
        _ => false,
    }
}

/// Decodes one attribute. `raw` is the whole attribute (for NOTIFICATION data).
pub(crate) fn decode_attribute(
    flags: u8,
    code: u8,
    value: &[u8],
    raw: &[u8],
    four_octet_as: bool,
) -> Result<PathAttribute, UpdateError> {
    let Some(expected) = expected_flags(code) else {
        if flags & FLAG_OPTIONAL == 0 {
            return Err(UpdateError::UnrecognizedWellKnownAttribute {
                type_code: code,
                attribute: raw.to_vec(),
            });
        }
        return Ok(PathAttribute::Unknown {
            flags: flags & !FLAG_EXTENDED_LENGTH,
            type_code: code,
            value: value.to_vec(),
        });
    };
    let partial_allowed = expected == FLAG_OPTIONAL | FLAG_TRANSITIVE;
    if flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE) != expected
        || (!partial_allowed && flags & FLAG_PARTIAL != 0)
    {
        return Err(UpdateError::AttributeFlags {
            type_code: code,
            attribute: raw.to_vec(),
        });
    }
    let length_error = || UpdateError::AttributeLength {
        type_code: code,
        attribute: raw.to_vec(),
    };
    let optional_error = |reason| UpdateError::OptionalAttribute {
        type_code: code,
        reason,
        attribute: raw.to_vec(),
    };
    match code {
        type_code::ORIGIN => match value {
            [0] => Ok(PathAttribute::Origin(Origin::Igp)),
            [1] => Ok(PathAttribute::Origin(Origin::Egp)),
            [2] => Ok(PathAttribute::Origin(Origin::Incomplete)),
            [_] => Err(UpdateError::InvalidOrigin {
                attribute: raw.to_vec(),
            }),
            _ => Err(length_error()),
        },
        type_code::AS_PATH => decode_as_path(value, four_octet_as)
            .map(PathAttribute::AsPath)
            .ok_or(UpdateError::MalformedAsPath),
        type_code::NEXT_HOP => {
            let octets: [u8; 4] = value.try_into().map_err(|_| length_error())?;
            let hop = Ipv4Addr::from(octets);
            if hop.is_unspecified() || hop.is_multicast() || hop.is_broadcast() {
                return Err(UpdateError::InvalidNextHop {
                    attribute: raw.to_vec(),
                });
            }
            Ok(PathAttribute::NextHop(hop))
        }
        type_code::MULTI_EXIT_DISC => be_u32(value)
            .map(PathAttribute::MultiExitDisc)
            .ok_or_else(length_error),
        type_code::LOCAL_PREF => be_u32(value)
            .map(PathAttribute::LocalPref)
            .ok_or_else(length_error),
        type_code::ATOMIC_AGGREGATE if value.is_empty() => Ok(PathAttribute::AtomicAggregate),
        type_code::ATOMIC_AGGREGATE => Err(length_error()),
        type_code::AGGREGATOR => {
            let (asn, addr) = match (four_octet_as, value.len()) {
                (true, 8) => (be_u32(&value[..4]), &value[4..]),
                (false, 6) => (be_u16(&value[..2]).map(u32::from), &value[2..]),
                _ => return Err(length_error()),
            };
            let octets: [u8; 4] = addr.try_into().map_err(|_| length_error())?;
            Ok(PathAttribute::Aggregator {
                asn: asn.ok_or_else(length_error)?,
                address: Ipv4Addr::from(octets),
            })
        }
        type_code::COMMUNITIES => {
            if value.is_empty() || !value.len().is_multiple_of(4) {
                return Err(length_error());
            }
            Ok(PathAttribute::Communities(
                value
                    .chunks_exact(4)
                    .filter_map(be_u32)
                    .map(Community)
                    .collect(),
            ))
        }
        type_code::LARGE_COMMUNITIES => {
            if value.is_empty() || !value.len().is_multiple_of(12) {
                return Err(length_error());
            }
            Ok(PathAttribute::LargeCommunities(
                value
                    .chunks_exact(12)
                    .filter_map(|c| {
                        Some(LargeCommunity {
                            global: be_u32(&c[..4])?,
                            local1: be_u32(&c[4..8])?,
                            local2: be_u32(&c[8..])?,
                        })
                    })
                    .collect(),
            ))
        }
        type_code::AS4_PATH => decode_as_path(value, true)
            .map(PathAttribute::As4Path)
            .ok_or_else(|| optional_error("malformed AS4_PATH")),
        type_code::MP_REACH_NLRI => decode_mp_reach(value).map_err(optional_error),
        type_code::MP_UNREACH_NLRI => decode_mp_unreach(value).map_err(optional_error),
        _ => Err(UpdateError::MalformedAttributeList {
            reason: "internal: unhandled known attribute",
        }),
    }
}

fn be_u16(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(b.try_into().ok()?))
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

fn decode_as_path(mut value: &[u8], four_octet_as: bool) -> Option<Vec<AsSegment>> {
    let width = if four_octet_as { 4 } else { 2 };
    let mut segments = Vec::new();
    while !value.is_empty() {
        let [kind, count, rest @ ..] = value else {
            return None;
        };
        let kind = match kind {
            1 => SegmentKind::Set,
            2 => SegmentKind::Sequence,
            3 => SegmentKind::ConfedSequence,
            4 => SegmentKind::ConfedSet,
            _ => return None,
        };
        let len = usize::from(*count) * width;
        if *count == 0 || rest.len() < len {
            return None;
        }
        let asns = rest[..len]
            .chunks_exact(width)
            .filter_map(|c| {
                if four_octet_as {
                    be_u32(c)
                } else {
                    be_u16(c).map(u32::from)
                }
            })
            .collect();
        segments.push(AsSegment { kind, asns });
        value = &rest[len..];
    }
    Some(segments)
}

fn is_unicast_family(afi: u16, safi: u8) -> Option<bool> {
    match (afi, safi) {
        (AFI_IPV4, SAFI_UNICAST) => Some(false),
        (AFI_IPV6, SAFI_UNICAST) => Some(true),
        _ => None,
    }
}

fn decode_mp_reach(value: &[u8]) -> Result<PathAttribute, &'static str> {
    let [a0, a1, safi, nh_len, rest @ ..] = value else {
        return Err("MP_REACH_NLRI too short");
    };
    let afi = u16::from_be_bytes([*a0, *a1]);
    let nh_len = usize::from(*nh_len);
    if rest.len() < nh_len + 1 {
        return Err("MP_REACH_NLRI next hop overruns the attribute");
    }
    let (nh, tail) = rest.split_at(nh_len);
    let nlri_bytes = &tail[1..]; // skip the reserved octet
    let Some(ipv6) = is_unicast_family(afi, *safi) else {
        return Ok(PathAttribute::MpReach(MpReach {
            afi,
            safi: *safi,
            next_hops: Vec::new(),
            nlri: Vec::new(),
        }));
    };
    let next_hops = decode_next_hops(nh).ok_or("bad MP_REACH_NLRI next hop length")?;
    let nlri = nlri::decode_prefixes(nlri_bytes, ipv6).map_err(|_| "bad MP_REACH_NLRI prefix")?;
    Ok(PathAttribute::MpReach(MpReach {
        afi,
        safi: *safi,
        next_hops,
        nlri,
    }))
}

fn decode_next_hops(nh: &[u8]) -> Option<Vec<IpAddr>> {
    let v6 = |b: &[u8]| -> Option<IpAddr> {
        let octets: [u8; 16] = b.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(octets)))
    };
    match nh.len() {
        4 => {
            let octets: [u8; 4] = nh.try_into().ok()?;
            Some(vec![IpAddr::V4(Ipv4Addr::from(octets))])
        }
        16 => Some(vec![v6(nh)?]),
        32 => Some(vec![v6(&nh[..16])?, v6(&nh[16..])?]),
        _ => None,
    }
}

fn decode_mp_unreach(value: &[u8]) -> Result<PathAttribute, &'static str> {
    let [a0, a1, safi, rest @ ..] = value else {
        return Err("MP_UNREACH_NLRI too short");
    };
    let afi = u16::from_be_bytes([*a0, *a1]);
    let withdrawn = match is_unicast_family(afi, *safi) {
        Some(ipv6) => {
            nlri::decode_prefixes(rest, ipv6).map_err(|_| "bad MP_UNREACH_NLRI prefix")?
        }
        None => Vec::new(),
    };
    Ok(PathAttribute::MpUnreach(MpUnreach {
        afi,
        safi: *safi,
        withdrawn,
    }))
}

/// Appends one attribute (flags, type, length, value), using the extended length when needed.
pub(crate) fn encode_attribute(attr: &PathAttribute, four_octet_as: bool, out: &mut Vec<u8>) {
    let mut value = Vec::new();
    let code = attr.type_code();
    let mut flags = expected_flags(code).unwrap_or(FLAG_OPTIONAL);
    match attr {
        PathAttribute::Origin(origin) => value.push(match origin {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }),
        PathAttribute::AsPath(segments) => encode_as_path(segments, four_octet_as, &mut value),
        PathAttribute::As4Path(segments) => encode_as_path(segments, true, &mut value),
        PathAttribute::NextHop(hop) => value.extend_from_slice(&hop.octets()),
        PathAttribute::MultiExitDisc(v) | PathAttribute::LocalPref(v) => {
            value.extend_from_slice(&v.to_be_bytes());
        }
        PathAttribute::AtomicAggregate => {}
        PathAttribute::Aggregator { asn, address } => {
            if four_octet_as {
                value.extend_from_slice(&asn.to_be_bytes());
            } else {
                let two = u16::try_from(*asn).unwrap_or(AS_TRANS);
                value.extend_from_slice(&two.to_be_bytes());
            }
            value.extend_from_slice(&address.octets());
        }
        PathAttribute::Communities(list) => {
            for c in list {
                value.extend_from_slice(&c.0.to_be_bytes());
            }
        }
        PathAttribute::LargeCommunities(list) => {
            for c in list {
                value.extend_from_slice(&c.global.to_be_bytes());
                value.extend_from_slice(&c.local1.to_be_bytes());
                value.extend_from_slice(&c.local2.to_be_bytes());
            }
        }
        PathAttribute::MpReach(mp) => {
            value.extend_from_slice(&mp.afi.to_be_bytes());
            value.push(mp.safi);
            let mut nh = Vec::new();
            for hop in &mp.next_hops {
                match hop {
                    IpAddr::V4(v4) => nh.extend_from_slice(&v4.octets()),
                    IpAddr::V6(v6) => nh.extend_from_slice(&v6.octets()),
                }
            }
            value.push(u8::try_from(nh.len()).unwrap_or(0));
            value.extend_from_slice(&nh);
            value.push(0);
            for net in &mp.nlri {
                nlri::encode_prefix(net, &mut value);
            }
        }
        PathAttribute::MpUnreach(mp) => {
            value.extend_from_slice(&mp.afi.to_be_bytes());
            value.push(mp.safi);
            for net in &mp.withdrawn {
                nlri::encode_prefix(net, &mut value);
            }
        }
        PathAttribute::Unknown {
            flags: raw_flags,
            value: raw,
            ..
        } => {
            flags = raw_flags & !FLAG_EXTENDED_LENGTH;
            value.extend_from_slice(raw);
        }
    }
    match u8::try_from(value.len()) {
        Ok(len) => {
            out.extend_from_slice(&[flags & !FLAG_EXTENDED_LENGTH, code, len]);
        }
        Err(_) => {
            let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&[flags | FLAG_EXTENDED_LENGTH, code]);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&value);
}

fn encode_as_path(segments: &[AsSegment], four_octet_as: bool, out: &mut Vec<u8>) {
    for segment in segments {
        // A segment holds at most 255 AS numbers; longer runs are split.
        for chunk in segment.asns.chunks(255) {
            out.push(match segment.kind {
                SegmentKind::Set => 1,
                SegmentKind::Sequence => 2,
                SegmentKind::ConfedSequence => 3,
                SegmentKind::ConfedSet => 4,
            });
            out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
            for asn in chunk {
                if four_octet_as {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let two = u16::try_from(*asn).unwrap_or(AS_TRANS);
                    out.extend_from_slice(&two.to_be_bytes());
                }
            }
        }
    }
}
