//! VIP addresses over rtnetlink (crate `rtnetlink`): a dummy interface (created if missing,
//! brought up) that carries every VIP as a /32 or /128, so the director accepts traffic for it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo};
use rtnetlink::{Handle, LinkDummy, LinkUnspec};
use thiserror::Error;
use tracing::info;

/// A VIP interface operation failed.
#[derive(Debug, Error)]
pub enum VipError {
    /// Could not open the rtnetlink socket.
    /// The cause is in the message, so it is not a `source()` (printed once under `{:#}`).
    #[error("cannot open rtnetlink socket: {0}")]
    Socket(std::io::Error),
    /// The kernel refused a request.
    #[error("{action} on interface {interface}: {cause}")]
    Netlink {
        /// What we tried, e.g. `add address 10.0.0.100/32`.
        action: String,
        /// The interface name.
        interface: String,
        /// The rtnetlink error (keeps the kernel's errno message; in the message, so not a
        /// `source()`).
        cause: rtnetlink::Error,
    },
    /// rtnetlink did not answer in time (the whole VIP step is bounded by the caller).
    #[error("no rtnetlink answer within {0:?} on the VIP interface")]
    Timeout(std::time::Duration),
    /// The interface vanished between creation and lookup.
    #[error("interface {0} not found after creating it")]
    Missing(String),
    /// The interface exists but is not a dummy link: lbctl removes addresses in the managed
    /// ranges from its VIP interface, which must never be a real NIC, bridge or tunnel.
    #[error(
        "interface {interface} is a {kind} link, not a dummy: lbctl only keeps VIPs on a dummy \
         interface of its own (choose another vip_interface)"
    )]
    NotDummy {
        /// The interface name.
        interface: String,
        /// Its link kind (`physical` when it has none).
        kind: String,
    },
}

impl VipError {
    /// Whether rtnetlink did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, VipError::Timeout(_))
    }
}

/// The interface that carries the VIPs (a dummy link, `lbvip0` by default).
pub struct VipInterface {
    handle: Handle,
    name: String,
    index: u32,
}

impl VipInterface {
    /// Opens rtnetlink on the current tokio runtime, finds the interface `name` or creates it as
    /// a dummy link, and brings it up.
    pub async fn ensure(name: &str) -> Result<Self, VipError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(VipError::Socket)?;
        tokio::spawn(connection);
        let index = match find_link(&handle, name).await? {
            Some(index) => index,
            None => {
                info!(interface = name, "creating VIP dummy interface");
                handle
                    .link()
                    .add(LinkDummy::new(name).up().build())
                    .execute()
                    .await
                    .map_err(|source| netlink_err("create dummy link", name, source))?;
                find_link(&handle, name)
                    .await?
                    .ok_or_else(|| VipError::Missing(name.into()))?
            }
        };
        handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|source| netlink_err("set link up", name, source))?;
        Ok(VipInterface {
            handle,
            name: name.to_string(),
            index,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every address currently on the interface.
    pub async fn addresses(&self) -> Result<BTreeSet<IpAddr>, VipError> {
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(self.index)
            .execute();
        let mut found = BTreeSet::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|source| self.err("list addresses", source))?
        {
            if msg.header.index != self.index {
                continue;
            }
            for attr in msg.attributes {
                if let AddressAttribute::Address(ip) = attr {
                    found.insert(ip);
                }
            }
        }
        Ok(found)
    }

    /// Adds a VIP as a host address (/32 or /128). Idempotent (`replace`).
    pub async fn add(&self, vip: IpAddr) -> Result<(), VipError> {
        let prefix = host_prefix(&vip);
        self.handle
            .address()
            .add(self.index, vip, prefix)
            .replace()
            .execute()
            .await
            .map_err(|source| self.err(&format!("add address {vip}/{prefix}"), source))?;
        info!(interface = %self.name, vip = %vip, "VIP address added");
        Ok(())
    }

    /// Removes a VIP. Removing an address that is already gone is not an error.
    pub async fn remove(&self, vip: IpAddr) -> Result<(), VipError> {
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(self.index)
            .set_address_filter(vip)
            .execute();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|source| self.err("list addresses", source))?
        {
            self.handle
                .address()
                .del(msg)
                .execute()
                .await
                .map_err(|source| self.err(&format!("delete address {vip}"), source))?;
            info!(interface = %self.name, vip = %vip, "VIP address removed");
        }
        Ok(())
    }

    fn err(&self, action: &str, source: rtnetlink::Error) -> VipError {
        netlink_err(action, &self.name, source)
    }
}

fn link_kind(attributes: &[LinkAttribute]) -> Option<&InfoKind> {
    attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|info| match info {
            LinkInfo::Kind(kind) => Some(kind),
            _ => None,
        }),
        _ => None,
    })
}

fn host_prefix(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn netlink_err(action: &str, interface: &str, cause: rtnetlink::Error) -> VipError {
    VipError::Netlink {
        action: action.to_string(),
        interface: interface.to_string(),
        cause,
    }
}

/// The index of the dummy link `name`, `None` when there is no such link; an error when a
/// link of another kind has that name.
async fn find_link(handle: &Handle, name: &str) -> Result<Option<u32>, VipError> {
    let mut stream = handle.link().get().match_name(name.to_string()).execute();
    match stream.try_next().await {
        Ok(Some(msg)) => {
            let named = msg
                .attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::IfName(n) if n == name));
            if !named {
                return Ok(None);
            }
            match link_kind(&msg.attributes) {
                Some(InfoKind::Dummy) => Ok(Some(msg.header.index)),
                other => Err(VipError::NotDummy {
                    interface: name.to_owned(),
                    kind: other.map_or_else(|| "physical".to_owned(), |k| k.to_string()),
                }),
            }
        }
        Ok(None) => Ok(None),
        // ENODEV: no such link.
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -19 => Ok(None),
        Err(source) => Err(netlink_err("look up link", name, source)),
    }
}
