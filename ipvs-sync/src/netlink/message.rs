//! The IPVS generic-netlink message: a command and its top-level attributes (pure: no I/O).
//!
//! Plugs into `netlink-packet-generic` as a [`GenlFamily`] ("IPVS", version 1); the family id is
//! dynamic and set on the surrounding `GenlMessage` by the client.

use netlink_packet_core::{DecodeError, Emitable, ParseableParametrized};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use super::attribute::{IpvsAttribute, parse_attributes};
use super::command::IpvsCmd;
use super::constants::{IPVS_GENL_NAME, IPVS_GENL_VERSION};

/// One IPVS request or reply. Named constructors for each request live in `requests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command (`genlmsghdr.cmd`).
    pub cmd: IpvsCmd,
    /// Top-level attributes in wire order.
    pub attributes: Vec<IpvsAttribute>,
}

impl IpvsMessage {
    /// A message from parts; why public: tests and tools build unusual requests by hand.
    pub fn new(cmd: IpvsCmd, attributes: Vec<IpvsAttribute>) -> Self {
        IpvsMessage { cmd, attributes }
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.into()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attributes.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attributes.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::from(header.cmd);
        Ok(IpvsMessage {
            cmd,
            attributes: parse_attributes(cmd, buf)?,
        })
    }
}
