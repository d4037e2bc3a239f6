//! Named constructors for every request this crate sends, and their byte encoding
//! (pure: no I/O). Each constructor's doc names its `ipvsadm` equivalent.

use lb_config::{RealServerKey, SyncRole};
use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

use super::attribute::IpvsAttribute;
use super::command::IpvsCmd;
use super::convert::{
    dest_attributes, dest_identity_attributes, service_attributes, service_identity_attributes,
};
use super::daemon_attr::{daemon_attributes, daemon_role_attributes};
use super::encode::encode_request_into;
use super::message::IpvsMessage;
use super::types::Timeouts;
use crate::IpvsError;
use crate::model::{DestinationSpec, ServiceId, ServiceSpec};
use crate::sync_daemon::SyncDaemon;

/// Header flags of writes and single reads: the kernel answers with an NLMSG_ERROR ack.
pub const FLAGS_ACKED: u16 = NLM_F_REQUEST | NLM_F_ACK;
/// Header flags of dumps: NLM_F_MULTI parts ending in NLMSG_DONE. No ACK: genetlink does not
/// send one after a dump, so the DONE is the end marker.
pub const FLAGS_DUMP: u16 = NLM_F_REQUEST | NLM_F_DUMP;

impl IpvsMessage {
    /// `ipvsadm -A`: NEW_SERVICE with the full service.
    pub fn new_service(spec: &ServiceSpec) -> Result<Self, IpvsError> {
        Ok(Self::new(
            IpvsCmd::NewService,
            vec![IpvsAttribute::Service(service_attributes(spec)?)],
        ))
    }

    /// `ipvsadm -E`: SET_SERVICE with the full service.
    pub fn set_service(spec: &ServiceSpec) -> Result<Self, IpvsError> {
        Ok(Self::new(
            IpvsCmd::SetService,
            vec![IpvsAttribute::Service(service_attributes(spec)?)],
        ))
    }

    /// `ipvsadm -D`: DEL_SERVICE with the identity only.
    pub fn del_service(id: &ServiceId) -> Self {
        Self::new(
            IpvsCmd::DelService,
            vec![IpvsAttribute::Service(service_identity_attributes(id))],
        )
    }

    /// `ipvsadm -L -t VIP:PORT`: GET_SERVICE doit for one service.
    pub fn get_service(id: &ServiceId) -> Self {
        Self::new(
            IpvsCmd::GetService,
            vec![IpvsAttribute::Service(service_identity_attributes(id))],
        )
    }

    /// `ipvsadm -L`: GET_SERVICE without attributes, sent with [`FLAGS_DUMP`].
    pub fn service_dump() -> Self {
        Self::new(IpvsCmd::GetService, Vec::new())
    }

    /// `ipvsadm -a`: NEW_DEST = service identity + full destination.
    pub fn new_dest(service: &ServiceId, dest: &DestinationSpec) -> Result<Self, IpvsError> {
        Self::dest_write(IpvsCmd::NewDest, service, dest)
    }

    /// `ipvsadm -e`: SET_DEST = service identity + full destination.
    pub fn set_dest(service: &ServiceId, dest: &DestinationSpec) -> Result<Self, IpvsError> {
        Self::dest_write(IpvsCmd::SetDest, service, dest)
    }

    fn dest_write(
        cmd: IpvsCmd,
        service: &ServiceId,
        dest: &DestinationSpec,
    ) -> Result<Self, IpvsError> {
        Ok(Self::new(
            cmd,
            vec![
                IpvsAttribute::Service(service_identity_attributes(service)),
                IpvsAttribute::Dest(dest_attributes(dest)?),
            ],
        ))
    }

    /// `ipvsadm -d`: DEL_DEST = service identity + destination identity.
    pub fn del_dest(service: &ServiceId, dest: &RealServerKey) -> Self {
        Self::new(
            IpvsCmd::DelDest,
            vec![
                IpvsAttribute::Service(service_identity_attributes(service)),
                IpvsAttribute::Dest(dest_identity_attributes(dest)),
            ],
        )
    }

    /// `ipvsadm -L -t VIP:PORT` (destinations): GET_DEST with the service identity, sent with
    /// [`FLAGS_DUMP`] (the kernel has no doit for it).
    pub fn dest_dump(service: &ServiceId) -> Self {
        Self::new(
            IpvsCmd::GetDest,
            vec![IpvsAttribute::Service(service_identity_attributes(service))],
        )
    }

    /// `ipvsadm --start-daemon`: NEW_DAEMON.
    pub fn new_daemon(daemon: &SyncDaemon) -> Self {
        Self::new(
            IpvsCmd::NewDaemon,
            vec![IpvsAttribute::Daemon(daemon_attributes(daemon))],
        )
    }

    /// `ipvsadm --stop-daemon`: DEL_DAEMON with the role.
    pub fn del_daemon(role: SyncRole) -> Self {
        Self::new(
            IpvsCmd::DelDaemon,
            vec![IpvsAttribute::Daemon(daemon_role_attributes(role))],
        )
    }

    /// `ipvsadm -L --daemon`: GET_DAEMON, sent with [`FLAGS_DUMP`] (the kernel has no doit).
    pub fn daemon_dump() -> Self {
        Self::new(IpvsCmd::GetDaemon, Vec::new())
    }

    /// `ipvsadm --version`'s kernel half: GET_INFO.
    pub fn get_info() -> Self {
        Self::new(IpvsCmd::GetInfo, Vec::new())
    }

    /// `ipvsadm -L --timeout`: GET_CONFIG.
    pub fn get_config() -> Self {
        Self::new(IpvsCmd::GetConfig, Vec::new())
    }

    /// `ipvsadm --set tcp tcpfin udp`: SET_CONFIG with all three values (0 = unchanged).
    pub fn set_config(timeouts: &Timeouts) -> Self {
        Self::new(
            IpvsCmd::SetConfig,
            vec![
                IpvsAttribute::TimeoutTcp(timeouts.tcp),
                IpvsAttribute::TimeoutTcpFin(timeouts.tcp_fin),
                IpvsAttribute::TimeoutUdp(timeouts.udp),
            ],
        )
    }
}

/// The bytes of one request: nlmsghdr + genlmsghdr (version 1, reserved 0) + attributes.
/// `port_number` is 0: the kernel fills in the sender. The client reuses one buffer instead
/// (`encode::encode_request_into`).
pub fn encode_request(message: &IpvsMessage, family_id: u16, sequence: u32, flags: u16) -> Vec<u8> {
    // Room for any service or destination request, so it is allocated once.
    let mut bytes = Vec::with_capacity(256);
    encode_request_into(&mut bytes, message, family_id, sequence, flags);
    bytes
}
