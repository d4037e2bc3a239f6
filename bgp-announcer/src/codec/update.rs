//! UPDATE messages (RFC 4271 §4.3) with strict decoding (RFC 4271 §6.3) as revised by
//! RFC 7606: a repeated attribute, or a malformed one whose RFC says "attribute discard", is
//! dropped rather than refused. Pure: no I/O.

use std::collections::BTreeSet;

use ipnetwork::IpNetwork;

use super::attributes::{self, PathAttribute, type_code};
use super::error::UpdateError;
use super::nlri;

/// An UPDATE. IPv4 unicast routes travel in `withdrawn`/`nlri`; other families travel in the
/// MP_REACH_NLRI / MP_UNREACH_NLRI attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn IPv4 prefixes.
    pub withdrawn: Vec<IpNetwork>,
    /// Path attributes.
    pub attributes: Vec<PathAttribute>,
    /// Reachable IPv4 prefixes (share `attributes`).
    pub nlri: Vec<IpNetwork>,
    /// Attributes dropped while decoding, in wire order (RFC 7606: the UPDATE itself was
    /// accepted). Always empty on UPDATEs we build; ignored when encoding.
    pub discarded: Vec<DiscardedAttribute>,
}

/// An attribute the decoder dropped while keeping the UPDATE, and why, so the session can
/// count what a peer sends that does not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscardedAttribute {
    /// A repeat of an attribute type seen earlier in the same UPDATE: RFC 7606 §3 (g) keeps
    /// the first occurrence and discards the others unparsed (MP_REACH_NLRI/MP_UNREACH_NLRI
    /// repeats are an error instead).
    Duplicate {
        /// Attribute type code.
        type_code: u8,
    },
    /// A malformed attribute whose RFC asks for "attribute discard" rather than
    /// treat-as-withdraw (RFC 7606 §7.6/§7.7: ATOMIC_AGGREGATE, AGGREGATOR; RFC 6793 §6:
    /// AS4_PATH); what was wrong with it.
    Malformed(UpdateError),
}

impl Update {
    /// If this UPDATE is an End-of-RIB marker (RFC 4724 §2), its AFI/SAFI.
    pub fn end_of_rib(&self) -> Option<(u16, u8)> {
        // An UPDATE whose attributes were all discarded still carried attributes: no marker.
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() || !self.discarded.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some((attributes::AFI_IPV4, attributes::SAFI_UNICAST)),
            [PathAttribute::MpUnreach(mp)] if mp.withdrawn.is_empty() => Some((mp.afi, mp.safi)),
            _ => None,
        }
    }

    /// Decodes the body (after the header).
    pub(crate) fn decode_body(body: &[u8], four_octet_as: bool) -> Result<Self, UpdateError> {
        let malformed = |reason| UpdateError::MalformedAttributeList { reason };
        let [w0, w1, rest @ ..] = body else {
            return Err(malformed("UPDATE shorter than its length fields"));
        };
        let withdrawn_len = usize::from(u16::from_be_bytes([*w0, *w1]));
        if rest.len() < withdrawn_len + 2 {
            return Err(malformed("withdrawn routes length overruns the message"));
        }
        let (withdrawn_bytes, rest) = rest.split_at(withdrawn_len);
        let attrs_len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let rest = &rest[2..];
        if rest.len() < attrs_len {
            return Err(malformed(
                "total path attribute length overruns the message",
            ));
        }
        let (attr_bytes, nlri_bytes) = rest.split_at(attrs_len);
        let withdrawn = nlri::decode_prefixes(withdrawn_bytes, false)
            .map_err(|_| UpdateError::InvalidNetworkField)?;
        // The NLRI field is found through the Total Path Attribute Length alone, so it is
        // parsed first: an unparseable NLRI field (session reset) outranks any attribute
        // error, which at most asks for treat-as-withdraw (RFC 7606 §4, §5.3).
        let nlri = nlri::decode_prefixes(nlri_bytes, false)
            .map_err(|_| UpdateError::InvalidNetworkField)?;
        let (attributes, discarded) = decode_attributes(attr_bytes, four_octet_as)?;
        let update = Update {
            withdrawn,
            attributes,
            nlri,
            discarded,
        };
        update.check_mandatory()?;
        Ok(update)
    }

    fn check_mandatory(&self) -> Result<(), UpdateError> {
        let present: BTreeSet<u8> = self.attributes.iter().map(|a| a.type_code()).collect();
        let mp_reach = self.attributes.iter().any(|a| match a {
            PathAttribute::MpReach(mp) => !mp.nlri.is_empty(),
            _ => false,
        });
        let mut required = Vec::new();
        if !self.nlri.is_empty() || mp_reach {
            required.extend([type_code::ORIGIN, type_code::AS_PATH]);
        }
        if !self.nlri.is_empty() {
            required.push(type_code::NEXT_HOP);
        }
        match required.into_iter().find(|code| !present.contains(code)) {
            Some(type_code) => Err(UpdateError::MissingWellKnownAttribute { type_code }),
            None => Ok(()),
        }
    }

    /// Appends the body.
    pub(crate) fn encode_body(&self, four_octet_as: bool, out: &mut Vec<u8>) {
        let mut withdrawn = Vec::new();
        for net in &self.withdrawn {
            nlri::encode_prefix(net, &mut withdrawn);
        }
        let mut attrs = Vec::new();
        for attr in &self.attributes {
            attributes::encode_attribute(attr, four_octet_as, &mut attrs);
        }
        out.extend_from_slice(&len16(withdrawn.len()).to_be_bytes());
        out.extend_from_slice(&withdrawn);
        out.extend_from_slice(&len16(attrs.len()).to_be_bytes());
        out.extend_from_slice(&attrs);
        for net in &self.nlri {
            nlri::encode_prefix(net, out);
        }
    }
}

fn len16(len: usize) -> u16 {
    // Message size is bounded by 4096 (checked by `encode`), so this never saturates there.
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// Decodes the path attribute list: the attributes kept, and those dropped on the way.
fn decode_attributes(
    mut buf: &[u8],
    four_octet_as: bool,
) -> Result<(Vec<PathAttribute>, Vec<DiscardedAttribute>), UpdateError> {
    let malformed = |reason| UpdateError::MalformedAttributeList { reason };
    let overrun = |type_code, reason| UpdateError::AttributeListOverrun { type_code, reason };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut discarded = Vec::new();
    while !buf.is_empty() {
        let [flags, code, rest @ ..] = buf else {
            return Err(overrun(None, "truncated attribute header"));
        };
        let (len, header_len) = if flags & 0x10 != 0 {
            let [l0, l1, ..] = rest else {
                return Err(overrun(Some(*code), "truncated attribute length"));
            };
            (usize::from(u16::from_be_bytes([*l0, *l1])), 4)
        } else {
            let [l0, ..] = rest else {
                return Err(overrun(Some(*code), "truncated attribute length"));
            };
            (usize::from(*l0), 3)
        };
        if buf.len() < header_len + len {
            return Err(overrun(
                Some(*code),
                "attribute overruns the total path attribute length",
            ));
        }
        let raw = &buf[..header_len + len];
        let value = &raw[header_len..];
        buf = &buf[header_len + len..];
        if !seen.insert(*code) {
            // RFC 7606 §3 (g): a repeated MP_REACH_NLRI/MP_UNREACH_NLRI is a Malformed
            // Attribute List; any other repeat is dropped unparsed and the UPDATE goes on.
            if *code == type_code::MP_REACH_NLRI || *code == type_code::MP_UNREACH_NLRI {
                return Err(malformed(
                    "MP_REACH_NLRI or MP_UNREACH_NLRI appears more than once",
                ));
            }
            discarded.push(DiscardedAttribute::Duplicate { type_code: *code });
            continue;
        }
        match attributes::decode_attribute(*flags, *code, value, raw, four_octet_as) {
            Ok(attribute) => out.push(attribute),
            Err(err) if attributes::is_discarded_when_malformed(&err) => {
                discarded.push(DiscardedAttribute::Malformed(err));
            }
            Err(err) => return Err(err),
        }
    }
    Ok((out, discarded))
}
