//! Building our OPEN and checking the peer's against our configuration (RFC 4271 §6.2,
//! RFC 5492, RFC 6793, RFC 4724). Pure.

use crate::codec::{
    AFI_IPV4, AFI_IPV6, AS_TRANS, Capability, GracefulRestart, GracefulRestartFamily, Open,
    OpenError, SAFI_UNICAST,
};

use super::SessionConfig;

/// What both sides agreed on; fixed for the life of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// Hold time in seconds (0 = no keepalives, no hold timer).
    pub(crate) hold_time: u16,
    /// Both sides speak 4-octet AS numbers.
    pub(crate) four_octet_as: bool,
    /// IPv4 unicast is exchanged.
    pub(crate) ipv4: bool,
    /// IPv6 unicast is exchanged.
    pub(crate) ipv6: bool,
    /// The peer announced graceful restart (so it can act as helper).
    pub(crate) peer_graceful_restart: bool,
}

/// The OPEN we send.
pub(crate) fn our_open(cfg: &SessionConfig) -> Open {
    let mut capabilities = Vec::new();
    if cfg.ipv4 {
        capabilities.push(Capability::Multiprotocol {
            afi: AFI_IPV4,
            safi: SAFI_UNICAST,
        });
    }
    if cfg.ipv6 {
        capabilities.push(Capability::Multiprotocol {
            afi: AFI_IPV6,
            safi: SAFI_UNICAST,
        });
    }
    capabilities.push(Capability::RouteRefresh);
    if let Some(gr) = &cfg.graceful_restart {
        let family = |afi| GracefulRestartFamily {
            afi,
            safi: SAFI_UNICAST,
            // Truthful: IPVS forwards in the kernel while the controller restarts.
            forwarding_preserved: true,
        };
        let mut families = Vec::new();
        if cfg.ipv4 {
            families.push(family(AFI_IPV4));
        }
        if cfg.ipv6 {
            families.push(family(AFI_IPV6));
        }
        capabilities.push(Capability::GracefulRestart(GracefulRestart {
            restart_state: gr.restarting,
            notification: false,
            restart_time: gr.restart_time_secs.min(0x0FFF),
            families,
        }));
    }
    capabilities.push(Capability::FourOctetAs { asn: cfg.local_as });
    Open {
        my_as: u16::try_from(cfg.local_as).unwrap_or(AS_TRANS),
        hold_time: cfg.hold_time,
        bgp_id: cfg.router_id,
        capabilities,
    }
}

/// Checks the peer's OPEN against our configuration and agrees on the session parameters.
pub(crate) fn negotiate(cfg: &SessionConfig, open: &Open) -> Result<Negotiated, OpenError> {
    let received = open.asn();
    if received != cfg.remote_as {
        return Err(OpenError::BadPeerAs {
            received,
            expected: cfg.remote_as,
        });
    }
    // RFC 6286 §2.2: identifiers must differ within an AS; across ASes they may be equal.
    if cfg.remote_as == cfg.local_as && open.bgp_id == cfg.router_id {
        return Err(OpenError::BadBgpIdentifier {
            identifier: open.bgp_id,
        });
    }
    let ipv4 = cfg.ipv4 && open.supports_family(AFI_IPV4, SAFI_UNICAST);
    let ipv6 = cfg.ipv6 && open.supports_family(AFI_IPV6, SAFI_UNICAST);
    if !ipv4 && !ipv6 {
        // Nothing we could announce: say which capabilities we would have needed.
        let mut data = Vec::new();
        for cap in our_open(cfg)
            .capabilities
            .iter()
            .filter(|c| matches!(c, Capability::Multiprotocol { .. }))
        {
            crate::codec::encode_capability_into(cap, &mut data);
        }
        return Err(OpenError::UnsupportedCapability { data });
    }
    let four_octet_as = open.has(|c| matches!(c, Capability::FourOctetAs { .. }));
    Ok(Negotiated {
        hold_time: cfg.hold_time.min(open.hold_time),
        four_octet_as,
        ipv4,
        ipv6,
        peer_graceful_restart: open.has(|c| matches!(c, Capability::GracefulRestart(_))),
    })
}
