//! Adj-RIB-Out: what this session has told the peer, and the UPDATEs that turn it into the
//! wanted set. Pure. Changes are incremental: only prefixes whose presence or attributes
//! changed are sent, grouped by attributes and packed under the 4096-octet limit.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

use crate::codec::{
    self, AFI_IPV4, AFI_IPV6, AS_TRANS, AsSegment, MAX_MESSAGE_LEN, MpReach, MpUnreach, Origin,
    PathAttribute, SAFI_UNICAST, SegmentKind, Update,
};
use crate::config::{Announcements, RouteAttributes};

/// How routes look to this particular peer (fixed while the session is up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerView {
    pub(crate) local_as: u32,
    pub(crate) ibgp: bool,
    pub(crate) four_octet_as: bool,
    pub(crate) ipv4: bool,
    pub(crate) ipv6: bool,
    pub(crate) next_hop_v4: Option<Ipv4Addr>,
    pub(crate) next_hop_v6: Option<Ipv6Addr>,
    pub(crate) default_local_pref: u32,
    /// Speaker-wide attributes merged into each route.
    pub(crate) global: RouteAttributes,
}

impl PeerView {
    /// Whether `net` can go to this peer (family negotiated and a next hop known).
    pub(crate) fn carries(&self, net: &IpNetwork) -> bool {
        self.why_not_carried(net).is_none()
    }

    /// Why `net` cannot go to this peer, if it cannot.
    pub(crate) fn why_not_carried(&self, net: &IpNetwork) -> Option<&'static str> {
        let (family, next_hop, key) = match net {
            IpNetwork::V4(_) => (self.ipv4, self.next_hop_v4.is_some(), "next_hop_v4"),
            IpNetwork::V6(_) => (self.ipv6, self.next_hop_v6.is_some(), "next_hop_v6"),
        };
        if !family {
            Some(
                "the session did not negotiate this address family (ipv4_unicast / ipv6_unicast, or the peer's capabilities)",
            )
        } else if !next_hop {
            Some(match key {
                "next_hop_v6" => {
                    "no IPv6 next hop: an IPv6 prefix over an IPv4 session needs next_hop_v6 for this peer"
                }
                _ => {
                    "no IPv4 next hop: an IPv4 prefix over an IPv6 session needs next_hop_v4 for this peer"
                }
            })
        } else {
            None
        }
    }

    fn path_attributes(&self, route: &RouteAttributes, ipv6: bool) -> Vec<PathAttribute> {
        let mut attrs = vec![PathAttribute::Origin(Origin::Igp)];
        let needs_as4 = !self.four_octet_as && self.local_as > u32::from(u16::MAX);
        if self.ibgp {
            attrs.push(PathAttribute::AsPath(Vec::new()));
        } else {
            let asn = if needs_as4 {
                u32::from(AS_TRANS)
            } else {
                self.local_as
            };
            attrs.push(PathAttribute::AsPath(vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![asn],
            }]));
        }
        if !ipv6 && let Some(hop) = self.next_hop_v4 {
            attrs.push(PathAttribute::NextHop(hop));
        }
        if let Some(med) = route.med.or(self.global.med) {
            attrs.push(PathAttribute::MultiExitDisc(med));
        }
        if self.ibgp {
            let pref = route
                .local_pref
                .or(self.global.local_pref)
                .unwrap_or(self.default_local_pref);
            attrs.push(PathAttribute::LocalPref(pref));
        }
        let communities: Vec<_> = self
            .global
            .communities
            .union(&route.communities)
            .copied()
            .collect();
        if !communities.is_empty() {
            attrs.push(PathAttribute::Communities(communities));
        }
        if needs_as4 && !self.ibgp {
            attrs.push(PathAttribute::As4Path(vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![self.local_as],
            }]));
        }
        let large: Vec<_> = self
            .global
            .large_communities
            .union(&route.large_communities)
            .copied()
            .collect();
        if !large.is_empty() {
            attrs.push(PathAttribute::LargeCommunities(large));
        }
        attrs
    }
}

/// The routes this session has advertised.
#[derive(Debug, Clone, Default)]
pub(crate) struct RibOut {
    advertised: BTreeMap<IpNetwork, RouteAttributes>,
}

impl RibOut {
    /// Number of prefixes the peer has from us.
    pub(crate) fn len(&self) -> usize {
        self.advertised.len()
    }

    /// Forgets everything (the session went down, the peer dropped our routes or keeps them
    /// as stale until we re-send them).
    pub(crate) fn clear(&mut self) {
        self.advertised.clear();
    }

    /// The UPDATEs that move the peer from what we advertised to `wanted`.
    pub(crate) fn sync(&mut self, wanted: &Announcements, view: &PeerView) -> Vec<Update> {
        let wanted: BTreeMap<IpNetwork, RouteAttributes> = wanted
            .iter()
            .map(|(net, attrs)| (codec::canonical_prefix(net), attrs.clone()))
            .filter(|(net, _)| view.carries(net))
            .collect();
        let withdraw: Vec<IpNetwork> = self
            .advertised
            .keys()
            .filter(|net| !wanted.contains_key(net))
            .copied()
            .collect();
        let announce: BTreeMap<IpNetwork, RouteAttributes> = wanted
            .iter()
            .filter(|(net, attrs)| self.advertised.get(net) != Some(attrs))
            .map(|(net, attrs)| (*net, attrs.clone()))
            .collect();
        self.advertised = wanted;
        build_updates(&announce, &withdraw, view)
    }

    /// Everything advertised in one family again (answer to ROUTE-REFRESH).
    pub(crate) fn readvertise(&self, afi: u16, view: &PeerView) -> Vec<Update> {
        let routes: BTreeMap<IpNetwork, RouteAttributes> = self
            .advertised
            .iter()
            .filter(|(net, _)| family_of(net) == afi)
            .map(|(net, attrs)| (*net, attrs.clone()))
            .collect();
        build_updates(&routes, &[], view)
    }
}

fn family_of(net: &IpNetwork) -> u16 {
    match net {
        IpNetwork::V4(_) => AFI_IPV4,
        IpNetwork::V6(_) => AFI_IPV6,
    }
}

/// End-of-RIB marker for a family (RFC 4724 §2).
pub(crate) fn end_of_rib(afi: u16) -> Update {
    if afi == AFI_IPV4 {
        return Update::default();
    }
    Update {
        attributes: vec![PathAttribute::MpUnreach(MpUnreach {
            afi,
            safi: SAFI_UNICAST,
            withdrawn: Vec::new(),
        })],
        ..Update::default()
    }
}

fn build_updates(
    announce: &BTreeMap<IpNetwork, RouteAttributes>,
    withdraw: &[IpNetwork],
    view: &PeerView,
) -> Vec<Update> {
    let mut out = Vec::new();
    let (w4, w6): (Vec<IpNetwork>, Vec<IpNetwork>) =
        withdraw.iter().partition(|n| matches!(n, IpNetwork::V4(_)));
    let v4_overhead = codec::update_overhead(&Update::default(), view.four_octet_as);
    for chunk in pack(&w4, v4_overhead) {
        out.push(Update {
            withdrawn: chunk,
            ..Update::default()
        });
    }
    let unreach = |withdrawn| Update {
        attributes: vec![PathAttribute::MpUnreach(MpUnreach {
            afi: AFI_IPV6,
            safi: SAFI_UNICAST,
            withdrawn,
        })],
        ..Update::default()
    };
    let v6_overhead = codec::update_overhead(&unreach(Vec::new()), view.four_octet_as) + 1;
    for chunk in pack(&w6, v6_overhead) {
        out.push(unreach(chunk));
    }
    let mut groups: BTreeMap<&RouteAttributes, (Vec<IpNetwork>, Vec<IpNetwork>)> = BTreeMap::new();
    for (net, attrs) in announce {
        let entry = groups.entry(attrs).or_default();
        match net {
            IpNetwork::V4(_) => entry.0.push(*net),
            IpNetwork::V6(_) => entry.1.push(*net),
        }
    }
    for (attrs, (v4, v6)) in groups {
        if !v4.is_empty() {
            let template = Update {
                attributes: view.path_attributes(attrs, false),
                ..Update::default()
            };
            let overhead = codec::update_overhead(&template, view.four_octet_as);
            for chunk in pack(&v4, overhead) {
                out.push(Update {
                    nlri: chunk,
                    ..template.clone()
                });
            }
        }
        if let (false, Some(hop)) = (v6.is_empty(), view.next_hop_v6) {
            let with_reach = |nlri| {
                let mut attributes = view.path_attributes(attrs, true);
                attributes.push(PathAttribute::MpReach(MpReach {
                    afi: AFI_IPV6,
                    safi: SAFI_UNICAST,
                    next_hops: vec![IpAddr::V6(hop)],
                    nlri,
                }));
                Update {
                    attributes,
                    ..Update::default()
                }
            };
            let overhead = codec::update_overhead(&with_reach(Vec::new()), view.four_octet_as) + 1;
            for chunk in pack(&v6, overhead) {
                out.push(with_reach(chunk));
            }
        }
    }
    out
}

/// Splits prefixes into runs that fit in one message after `overhead` octets.
fn pack(prefixes: &[IpNetwork], overhead: usize) -> Vec<Vec<IpNetwork>> {
    let budget = MAX_MESSAGE_LEN.saturating_sub(overhead);
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut used = 0;
    for net in prefixes {
        let len = codec::prefix_encoded_len(net);
        if used + len > budget && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(*net);
        used += len;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}
