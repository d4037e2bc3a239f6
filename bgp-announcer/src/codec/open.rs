//! OPEN messages and capabilities (RFC 4271 §4.2, RFC 5492, RFC 4760, RFC 6793, RFC 4724,
//! RFC 2918). Pure: no I/O.
//!
//! Decoding checks what the message alone can tell (version, hold time, identifier not zero,
//! parameter layout). Checks that need our configuration (peer AS, identifier collision,
//! required capabilities) are the session's job (`fsm::negotiate`).

use std::net::Ipv4Addr;

use super::error::OpenError;

const PARAM_CAPABILITIES: u8 = 2;
const CAP_MULTIPROTOCOL: u8 = 1;
const CAP_ROUTE_REFRESH: u8 = 2;
const CAP_GRACEFUL_RESTART: u8 = 64;
const CAP_FOUR_OCTET_AS: u8 = 65;

/// Graceful restart capability contents (RFC 4724 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestart {
    /// R-bit: the sender has restarted and wants the receiver to keep its routes meanwhile.
    pub restart_state: bool,
    /// N-bit (RFC 8538): a Cease NOTIFICATION also triggers graceful restart.
    pub notification: bool,
    /// Seconds the receiver should keep our routes after the session drops (12 bits).
    pub restart_time: u16,
    /// Families with their F-bit (forwarding state preserved across the restart).
    pub families: Vec<GracefulRestartFamily>,
}

/// One family of the graceful restart capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestartFamily {
    /// Address family.
    pub afi: u16,
    /// Subsequent address family.
    pub safi: u8,
    /// F-bit: forwarding continued during the restart (true for us: IPVS keeps forwarding).
    pub forwarding_preserved: bool,
}

/// One capability from an OPEN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Multiprotocol extensions for one AFI/SAFI (RFC 4760).
    Multiprotocol {
        /// Address family.
        afi: u16,
        /// Subsequent address family.
        safi: u8,
    },
    /// Route refresh (RFC 2918).
    RouteRefresh,
    /// Graceful restart (RFC 4724).
    GracefulRestart(GracefulRestart),
    /// 4-octet AS numbers (RFC 6793), carrying the real AS.
    FourOctetAs {
        /// The sender's AS.
        asn: u32,
    },
    /// Any other capability, kept raw.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The 2-octet "My Autonomous System" (AS_TRANS when the real AS needs 4 octets).
    pub my_as: u16,
    /// Proposed hold time in seconds (0 or >= 3).
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in the order sent.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The sender's real AS: from the 4-octet AS capability if present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs { asn } => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Whether the sender offered `afi`/`safi` (IPv4 unicast is implied when it offered no
    /// multiprotocol capability at all, RFC 4760 §8).
    pub fn supports_family(&self, afi: u16, safi: u8) -> bool {
        let mut any_mp = false;
        for cap in &self.capabilities {
            if let Capability::Multiprotocol { afi: a, safi: s } = cap {
                any_mp = true;
                if (*a, *s) == (afi, safi) {
                    return true;
                }
            }
        }
        !any_mp && (afi, safi) == (super::AFI_IPV4, super::SAFI_UNICAST)
    }

    /// Whether the sender offered capability `pred`.
    pub fn has(&self, pred: impl Fn(&Capability) -> bool) -> bool {
        self.capabilities.iter().any(pred)
    }

    /// Decodes the body (after the header).
    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, OpenError> {
        let [
            version,
            a0,
            a1,
            h0,
            h1,
            i0,
            i1,
            i2,
            i3,
            opt_len,
            params @ ..,
        ] = body
        else {
            return Err(OpenError::Malformed {
                reason: "OPEN shorter than its fixed fields",
            });
        };
        if *version != 4 {
            return Err(OpenError::UnsupportedVersion { version: *version });
        }
        let hold_time = u16::from_be_bytes([*h0, *h1]);
        if hold_time == 1 || hold_time == 2 {
            return Err(OpenError::UnacceptableHoldTime { hold_time });
        }
        let bgp_id = Ipv4Addr::new(*i0, *i1, *i2, *i3);
        if bgp_id.is_unspecified() {
            return Err(OpenError::BadBgpIdentifier { identifier: bgp_id });
        }
        if usize::from(*opt_len) != params.len() {
            return Err(OpenError::Malformed {
                reason: "optional parameters length does not match the message length",
            });
        }
        let mut capabilities = Vec::new();
        let mut rest = params;
        while !rest.is_empty() {
            let [param_type, param_len, tail @ ..] = rest else {
                return Err(OpenError::Malformed {
                    reason: "truncated optional parameter",
                });
            };
            let len = usize::from(*param_len);
            if tail.len() < len {
                return Err(OpenError::Malformed {
                    reason: "optional parameter overruns the message",
                });
            }
            if *param_type != PARAM_CAPABILITIES {
                return Err(OpenError::UnsupportedOptionalParameter {
                    param_type: *param_type,
                });
            }
            decode_capabilities(&tail[..len], &mut capabilities)?;
            rest = &tail[len..];
        }
        Ok(Open {
            my_as: u16::from_be_bytes([*a0, *a1]),
            hold_time,
            bgp_id,
            capabilities,
        })
    }

    /// Appends the body. All capabilities go into one Capabilities parameter.
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(4);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let mut caps = Vec::new();
        for cap in &self.capabilities {
            encode_capability(cap, &mut caps);
        }
        if caps.is_empty() {
            out.push(0);
            return;
        }
        // Capabilities are small; the parameter length is bounded by the header checks.
        let caps_len = u8::try_from(caps.len()).unwrap_or(u8::MAX);
        out.push(caps_len.saturating_add(2));
        out.push(PARAM_CAPABILITIES);
        out.push(caps_len);
        out.extend_from_slice(&caps);
    }
}

fn decode_capabilities(mut buf: &[u8], out: &mut Vec<Capability>) -> Result<(), OpenError> {
    let malformed = |reason| OpenError::Malformed { reason };
    while !buf.is_empty() {
        let [code, len, tail @ ..] = buf else {
            return Err(malformed("truncated capability"));
        };
        let len = usize::from(*len);
        if tail.len() < len {
            return Err(malformed("capability overruns its parameter"));
        }
        let value = &tail[..len];
        buf = &tail[len..];
        let cap = match *code {
            CAP_MULTIPROTOCOL => match value {
                [a0, a1, _reserved, safi] => Capability::Multiprotocol {
                    afi: u16::from_be_bytes([*a0, *a1]),
                    safi: *safi,
                },
                _ => return Err(malformed("multiprotocol capability length is not 4")),
            },
            CAP_ROUTE_REFRESH => Capability::RouteRefresh,
            CAP_FOUR_OCTET_AS => match value {
                [a, b, c, d] => Capability::FourOctetAs {
                    asn: u32::from_be_bytes([*a, *b, *c, *d]),
                },
                _ => return Err(malformed("4-octet AS capability length is not 4")),
            },
            CAP_GRACEFUL_RESTART => {
                let [f0, f1, families @ ..] = value else {
                    return Err(malformed("graceful restart capability too short"));
                };
                if !families.len().is_multiple_of(4) {
                    return Err(malformed("graceful restart families not in 4-octet units"));
                }
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: f0 & 0x80 != 0,
                    notification: f0 & 0x40 != 0,
                    restart_time: u16::from_be_bytes([f0 & 0x0F, *f1]),
                    families: families
                        .chunks_exact(4)
                        .map(|f| GracefulRestartFamily {
                            afi: u16::from_be_bytes([f[0], f[1]]),
                            safi: f[2],
                            forwarding_preserved: f[3] & 0x80 != 0,
                        })
                        .collect(),
                })
            }
            other => Capability::Unknown {
                code: other,
                value: value.to_vec(),
            },
        };
        out.push(cap);
    }
    Ok(())
}

/// Appends one capability TLV (also used as NOTIFICATION 2/7 data).
pub(crate) fn encode_capability(cap: &Capability, out: &mut Vec<u8>) {
    let mut value = Vec::new();
    let code = match cap {
        Capability::Multiprotocol { afi, safi } => {
            value.extend_from_slice(&afi.to_be_bytes());
            value.extend_from_slice(&[0, *safi]);
            CAP_MULTIPROTOCOL
        }
        Capability::RouteRefresh => CAP_ROUTE_REFRESH,
        Capability::FourOctetAs { asn } => {
            value.extend_from_slice(&asn.to_be_bytes());
            CAP_FOUR_OCTET_AS
        }
        Capability::GracefulRestart(gr) => {
            let time = gr.restart_time.min(0x0FFF);
            let mut flags = (time >> 8) as u8;
            if gr.restart_state {
                flags |= 0x80;
            }
            if gr.notification {
                flags |= 0x40;
            }
            value.push(flags);
            value.push((time & 0xFF) as u8);
            for fam in &gr.families {
                value.extend_from_slice(&fam.afi.to_be_bytes());
                value.push(fam.safi);
                value.push(if fam.forwarding_preserved { 0x80 } else { 0 });
            }
            CAP_GRACEFUL_RESTART
        }
        Capability::Unknown { code, value: raw } => {
            value.extend_from_slice(raw);
            *code
        }
    };
    out.push(code);
    out.push(u8::try_from(value.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&value);
}
