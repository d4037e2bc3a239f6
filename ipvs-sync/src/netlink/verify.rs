//! Read-back checks: after a write, ask the kernel what it kept and compare. Why: IPVS validates
//! leniently and silently drops attributes it does not know (TUN_* before 5.2/5.3, a flag
//! mask of 0), so an ACK alone does not prove the write took effect.
//!
//! The comparisons are pure; the `verify_*` methods do one read each.

use std::fmt::Debug;

use super::client::{IpvsClient, dest_object};
use super::convert::normalize_destination;
use super::transport::NetlinkTransport;
use crate::IpvsError;
use crate::model::{DestinationSpec, IP_VS_SVC_F_HASHED, ServiceId, ServiceSpec};

fn not_kept<V: Debug + PartialEq>(
    what: &'static str,
    object: &str,
    wrote: V,
    read: V,
) -> Result<(), IpvsError> {
    if wrote == read {
        return Ok(());
    }
    Err(IpvsError::NotKept {
        what,
        object: object.to_owned(),
        wrote: format!("{wrote:?}"),
        read: format!("{read:?}"),
    })
}

/// `Ok` when the kernel's service (`read`) has the settings we wrote; otherwise the first
/// difference as [`IpvsError::NotKept`]. HASHED is ignored on both sides.
pub fn compare_service(wrote: &ServiceSpec, read: &ServiceSpec) -> Result<(), IpvsError> {
    let object = wrote.id.to_string();
    not_kept("identity", &object, &wrote.id, &read.id)?;
    not_kept("scheduler", &object, &wrote.scheduler, &read.scheduler)?;
    not_kept(
        "flags",
        &object,
        wrote.flags & !IP_VS_SVC_F_HASHED,
        read.flags & !IP_VS_SVC_F_HASHED,
    )?;
    not_kept("timeout", &object, wrote.timeout, read.timeout)?;
    not_kept(
        "netmask",
        &object,
        wrote.netmask_prefix,
        read.netmask_prefix,
    )?;
    not_kept("persistence engine", &object, &wrote.pe_name, &read.pe_name)
}

/// `Ok` when the kernel's destination (`read`) has the settings we wrote, compared in the form
/// the kernel keeps ([`normalize_destination`]); otherwise the first difference.
pub fn compare_destination(
    service: &ServiceId,
    wrote: &DestinationSpec,
    read: &DestinationSpec,
) -> Result<(), IpvsError> {
    let object = dest_object(service, &wrote.key).to_string();
    let (wrote, read) = (normalize_destination(wrote), normalize_destination(read));
    not_kept("address", &object, wrote.key, read.key)?;
    not_kept("forwarding method", &object, wrote.forward, read.forward)?;
    not_kept("weight", &object, wrote.weight, read.weight)?;
    not_kept(
        "upper threshold",
        &object,
        wrote.upper_threshold,
        read.upper_threshold,
    )?;
    not_kept(
        "lower threshold",
        &object,
        wrote.lower_threshold,
        read.lower_threshold,
    )?;
    not_kept("tunnel", &object, wrote.tunnel, read.tunnel)
}

impl<T: NetlinkTransport> IpvsClient<T> {
    /// Reads the service back (GET_SERVICE) and compares it with what was written.
    pub fn verify_service(&mut self, spec: &ServiceSpec) -> Result<(), IpvsError> {
        match self.get_service(&spec.id)? {
            Some((read, _)) => compare_service(spec, &read),
            None => not_kept("service", &spec.id.to_string(), "present", "absent"),
        }
    }

    /// Reads the service's destinations back (GET_DEST) and compares `spec` with the kernel's.
    pub fn verify_destination(
        &mut self,
        service: &ServiceId,
        spec: &DestinationSpec,
    ) -> Result<(), IpvsError> {
        let found = self
            .dump_destinations(service)?
            .into_iter()
            .find(|d| d.spec.key == spec.key);
        match found {
            Some(read) => compare_destination(service, spec, &read.spec),
            None => not_kept(
                "destination",
                &dest_object(service, &spec.key).to_string(),
                "present",
                "absent",
            ),
        }
    }
}
