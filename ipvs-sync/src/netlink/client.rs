//! The synchronous IPVS client: one blocking socket, the family resolved once, one request in
//! flight at a time. I/O happens only through the [`NetlinkTransport`] it owns.
//!
//! Protocol handled here: sequence numbers (stale messages from an abandoned exchange are
//! skipped), NLMSG_ERROR as ACK (code 0) or refusal (negative errno), NLM_F_MULTI parts ending in
//! NLMSG_DONE for dumps (a negative DONE code is a refusal too).

use std::fmt;
use std::path::Path;

use lb_config::{RealServerKey, SyncRole};
use netlink_packet_core::{
    NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer, NetlinkPayload,
};

use super::convert::service_family;
use super::encode::encode_request_into;
use super::errno::{explain_destination_refusal, explain_service_refusal, kernel_error};
use super::family::resolve_family;
use super::features::check_destination;
use super::features::{KernelVersion, PROC_SYS, kernel_version};
use super::message::IpvsMessage;
use super::reply::{
    daemon_from_message, decode_frame, destination_from_message, info_from_message,
    service_from_message, split_frames, timeouts_from_message,
};
use super::requests::{FLAGS_ACKED, FLAGS_DUMP};
use super::transport::{NetlinkTransport, SocketTransport};
use super::types::{IpvsInfo, OpCounts, Timeouts};
use crate::IpvsError;
use crate::model::{DestinationSpec, ObservedDestination, ServiceId, ServiceSpec, Stats};
use crate::sync_daemon::SyncDaemon;

/// errno of GET_SERVICE for a service that does not exist.
const ESRCH: i32 = 3;

/// Talks IPVS generic netlink. Why synchronous: the daemon drives it from one blocking thread,
/// every IPVS change serialises on one kernel mutex anyway, and a blocking exchange keeps the
/// protocol state machine small and testable.
#[derive(Debug)]
pub struct IpvsClient<T: NetlinkTransport = SocketTransport> {
    transport: T,
    family_id: u16,
    sequence: u32,
    counts: OpCounts,
    datagram: Vec<u8>,
    /// The request being sent, reused from one request to the next.
    request: Vec<u8>,
    /// The running kernel's release, for features the IPVS version cannot show (`None`:
    /// unknown, assumed recent).
    kernel: Option<KernelVersion>,
    /// A request timed out: the transport is reopened before the next one.
    stale: bool,
}

/// The display name of a destination in errors: `TCP  10.0.0.1:80 -> 10.0.1.1:80`. Formatted
/// only when an error or a debug log names it: a write of 110,000 destinations formats none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DestObject<'a> {
    service: &'a ServiceId,
    dest: &'a RealServerKey,
}

impl fmt::Display for DestObject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.service, self.dest)
    }
}

/// The display name of a destination in errors (see [`DestObject`]).
pub(crate) fn dest_object<'a>(service: &'a ServiceId, dest: &'a RealServerKey) -> DestObject<'a> {
    DestObject { service, dest }
}

impl IpvsClient<SocketTransport> {
    /// Opens the socket and resolves the "IPVS" family ([`IpvsError::FamilyNotFound`] if the
    /// kernel has no IPVS or `ip_vs` is not loaded). Each receive waits at most
    /// [`DEFAULT_REPLY_TIMEOUT`](super::transport::DEFAULT_REPLY_TIMEOUT).
    pub fn connect() -> Result<Self, IpvsError> {
        Self::connect_with_timeout(super::transport::DEFAULT_REPLY_TIMEOUT)
    }

    /// [`IpvsClient::connect`] with another per-receive timeout.
    pub fn connect_with_timeout(reply_timeout: std::time::Duration) -> Result<Self, IpvsError> {
        let transport =
            SocketTransport::open_with_timeout(reply_timeout).map_err(|cause| IpvsError::Io {
                context: "opening the NETLINK_GENERIC socket",
                cause,
            })?;
        let mut client = Self::with_transport(transport)?;
        client.kernel = kernel_version(Path::new(PROC_SYS));
        if client.kernel.is_none() {
            tracing::warn!("cannot read the kernel release: tunnel features are not gated");
        }
        Ok(client)
    }
}

impl<T: NetlinkTransport> IpvsClient<T> {
    /// A client over any transport; resolves the family first. Why public: tests script the
    /// kernel's side byte by byte.
    pub fn with_transport(mut transport: T) -> Result<Self, IpvsError> {
        let sequence = 1;
        let family_id = resolve_family(&mut transport, sequence)?;
        tracing::debug!(family_id, "resolved the IPVS generic netlink family");
        Ok(IpvsClient {
            transport,
            family_id,
            sequence,
            counts: OpCounts::default(),
            datagram: Vec::new(),
            request: Vec::new(),
            kernel: None,
            stale: false,
        })
    }

    /// The kernel release features are gated on (`connect` reads it from /proc).
    pub fn kernel_version(&self) -> Option<KernelVersion> {
        self.kernel
    }

    /// Sets the kernel release features are gated on. Why public: tests on scripted
    /// transports pretend to be older kernels.
    pub fn set_kernel_version(&mut self, kernel: Option<KernelVersion>) {
        self.kernel = kernel;
    }

    /// The resolved family id (the `nlmsg_type` of every request).
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    /// Requests sent so far, by kind.
    pub fn op_count(&self) -> OpCounts {
        self.counts
    }

    /// Sends one request and collects its reply messages until the ACK or DONE.
    fn exchange(
        &mut self,
        message: &IpvsMessage,
        flags: u16,
        object: &dyn fmt::Display,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        let operation = message.cmd.name();
        if self.stale {
            self.transport.reopen().map_err(|cause| IpvsError::Io {
                context: "reopening the netlink socket after a timeout",
                cause,
            })?;
            self.stale = false;
            tracing::info!(
                operation,
                "reopened the IPVS netlink socket after a timeout"
            );
        }
        self.sequence = self.sequence.wrapping_add(1).max(1);
        let sequence = self.sequence;
        encode_request_into(&mut self.request, message, self.family_id, sequence, flags);
        self.transport
            .send(&self.request)
            .map_err(|cause| IpvsError::Io {
                context: "sending an IPVS request",
                cause,
            })?;
        let mut replies = Vec::new();
        // A part that fails to decode does not end the exchange at once: the rest of the reply
        // is drained up to its end marker, so that an abandoned dump cannot linger in the
        // kernel (a new dump would get EBUSY) or in the socket.
        let mut failure: Option<IpvsError> = None;
        loop {
            if let Err(cause) = self.transport.recv(&mut self.datagram) {
                if cause.kind() != std::io::ErrorKind::TimedOut {
                    // The rest of this reply may still come: the next request starts on a
                    // fresh socket.
                    self.stale = true;
                    return Err(IpvsError::Io {
                        context: "receiving an IPVS reply",
                        cause,
                    });
                }
                // Sequence numbers already skip a late reply, but an abandoned dump would keep
                // the socket's dump slot busy: a fresh socket has neither.
                self.stale = true;
                let after = self.transport.reply_timeout();
                tracing::warn!(
                    operation,
                    %object,
                    timeout = ?after,
                    "IPVS request timed out"
                );
                return Err(IpvsError::Timeout {
                    request: operation,
                    object: object.to_string(),
                    after,
                });
            }
            for frame in split_frames(&self.datagram)? {
                let header = NetlinkBuffer::new(frame);
                if header.sequence_number() != sequence {
                    tracing::debug!(
                        seq = header.sequence_number(),
                        "skipping a stale netlink message"
                    );
                    continue;
                }
                if header.flags() & NLM_F_DUMP_INTR != 0 {
                    tracing::warn!(operation, "dump interrupted by a concurrent change");
                }
                let is_end = matches!(header.message_type(), NLMSG_ERROR | NLMSG_DONE);
                let payload = match decode_frame(frame) {
                    Ok(packet) => packet.payload,
                    Err(e) if is_end => return Err(failure.unwrap_or(e)),
                    Err(e) => {
                        failure.get_or_insert(e);
                        continue;
                    }
                };
                let outcome = match payload {
                    NetlinkPayload::InnerMessage(genl) => {
                        replies.push(genl.payload);
                        continue;
                    }
                    NetlinkPayload::Error(e) => match e.code {
                        None => Ok(()),
                        Some(code) => Err(kernel_error(operation, object, code.get())),
                    },
                    NetlinkPayload::Done(done) if done.code < 0 => {
                        Err(kernel_error(operation, object, done.code))
                    }
                    NetlinkPayload::Done(_) => Ok(()),
                    _ => continue,
                };
                return match (failure, outcome) {
                    (_, Err(refused)) => Err(refused),
                    (Some(decode), Ok(())) => Err(decode),
                    (None, Ok(())) => Ok(replies),
                };
            }
        }
    }

    /// A write: counted, logged, acknowledged.
    fn write(&mut self, message: &IpvsMessage, object: &dyn fmt::Display) -> Result<(), IpvsError> {
        self.counts.writes += 1;
        tracing::debug!(operation = message.cmd.name(), %object, "IPVS write");
        self.exchange(message, FLAGS_ACKED, object).map(|_| ())
    }

    /// A single-object read.
    fn get(
        &mut self,
        message: &IpvsMessage,
        object: &dyn fmt::Display,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        self.counts.gets += 1;
        self.exchange(message, FLAGS_ACKED, object)
    }

    /// A dump.
    fn dump(
        &mut self,
        message: &IpvsMessage,
        object: &dyn fmt::Display,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        self.counts.dumps += 1;
        self.exchange(message, FLAGS_DUMP, object)
    }

    /// `ipvsadm --version`: IPVS version and connection table size.
    pub fn info(&mut self) -> Result<IpvsInfo, IpvsError> {
        let replies = self.get(&IpvsMessage::get_info(), &"IPVS")?;
        match replies.first() {
            Some(message) => info_from_message(message),
            None => Err(super::convert::decode_error(
                "info reply",
                "no SET_INFO message",
            )),
        }
    }

    /// `ipvsadm -Ln` (services only): every service of the namespace with its counters.
    pub fn dump_services(&mut self) -> Result<Vec<(ServiceSpec, Stats)>, IpvsError> {
        self.dump(&IpvsMessage::service_dump(), &"services")?
            .iter()
            .map(service_from_message)
            .collect()
    }

    /// One service, or `None` when the kernel has no such service (ESRCH).
    pub fn get_service(
        &mut self,
        id: &ServiceId,
    ) -> Result<Option<(ServiceSpec, Stats)>, IpvsError> {
        match self.get(&IpvsMessage::get_service(id), id) {
            Ok(replies) => match replies.first() {
                Some(message) => service_from_message(message).map(Some),
                None => Ok(None),
            },
            Err(e) if e.errno() == Some(ESRCH) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The destinations of one service. An unknown service gives an empty list (the kernel's
    /// dump is empty, not an error).
    pub fn dump_destinations(
        &mut self,
        id: &ServiceId,
    ) -> Result<Vec<ObservedDestination>, IpvsError> {
        let family = service_family(id);
        self.dump(&IpvsMessage::dest_dump(id), id)?
            .iter()
            .map(|m| destination_from_message(m, family))
            .collect()
    }

    /// `ipvsadm -A`. EEXIST if present (not swallowed: the caller decides).
    pub fn add_service(&mut self, spec: &ServiceSpec) -> Result<(), IpvsError> {
        self.write(&IpvsMessage::new_service(spec)?, &spec.id)
            .map_err(|e| explain_service_refusal(e, spec))
    }

    /// `ipvsadm -E`. ESRCH if absent.
    pub fn edit_service(&mut self, spec: &ServiceSpec) -> Result<(), IpvsError> {
        self.write(&IpvsMessage::set_service(spec)?, &spec.id)
            .map_err(|e| explain_service_refusal(e, spec))
    }

    /// `ipvsadm -D` (its destinations go with it). ESRCH if absent.
    pub fn delete_service(&mut self, id: &ServiceId) -> Result<(), IpvsError> {
        self.write(&IpvsMessage::del_service(id), id)
    }

    /// `ipvsadm -a`. EEXIST if present, ESRCH if the service is absent.
    pub fn add_destination(
        &mut self,
        service: &ServiceId,
        dest: &DestinationSpec,
    ) -> Result<(), IpvsError> {
        let object = dest_object(service, &dest.key);
        check_destination(&object, dest, self.kernel)?;
        self.write(&IpvsMessage::new_dest(service, dest)?, &object)
            .map_err(|e| explain_destination_refusal(e, dest))
    }

    /// `ipvsadm -e`. ENOENT if the destination is absent.
    pub fn edit_destination(
        &mut self,
        service: &ServiceId,
        dest: &DestinationSpec,
    ) -> Result<(), IpvsError> {
        let object = dest_object(service, &dest.key);
        check_destination(&object, dest, self.kernel)?;
        self.write(&IpvsMessage::set_dest(service, dest)?, &object)
            .map_err(|e| explain_destination_refusal(e, dest))
    }

    /// `ipvsadm -d`. ENOENT if the destination is absent.
    pub fn delete_destination(
        &mut self,
        service: &ServiceId,
        dest: &RealServerKey,
    ) -> Result<(), IpvsError> {
        self.write(
            &IpvsMessage::del_dest(service, dest),
            &dest_object(service, dest),
        )
    }

    /// `ipvsadm -L --daemon`: the sync daemons the kernel runs (at most a master and a backup).
    pub fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.dump(&IpvsMessage::daemon_dump(), &"sync daemons")?
            .iter()
            .map(daemon_from_message)
            .collect()
    }

    /// `ipvsadm --start-daemon`. EEXIST when that role runs already; ENODEV for an unknown
    /// interface; EINVAL while some service has real servers of the other address family (the
    /// sync protocol cannot carry them).
    pub fn start_sync_daemon(&mut self, daemon: &SyncDaemon) -> Result<(), IpvsError> {
        self.write(&IpvsMessage::new_daemon(daemon), daemon)
    }

    /// `ipvsadm --stop-daemon`. ESRCH when that role does not run.
    pub fn stop_sync_daemon(&mut self, role: SyncRole) -> Result<(), IpvsError> {
        self.write(
            &IpvsMessage::del_daemon(role),
            &format!("{role} sync daemon"),
        )
    }

    /// `ipvsadm -L --timeout`.
    pub fn get_timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let replies = self.get(&IpvsMessage::get_config(), &"timeouts")?;
        match replies.first() {
            Some(message) => Ok(timeouts_from_message(message)),
            None => Err(super::convert::decode_error(
                "config reply",
                "no SET_CONFIG message",
            )),
        }
    }

    /// `ipvsadm --set`: 0 leaves a value unchanged.
    pub fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), IpvsError> {
        self.write(&IpvsMessage::set_config(timeouts), &"timeouts")
    }
}
