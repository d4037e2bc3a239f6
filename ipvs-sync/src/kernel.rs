//! The kernel boundary of IPVS: everything that reads or writes the kernel's table goes through
//! [`IpvsKernel`], so the reconciler and the director's sync run unchanged on the netlink client
//! and on the in-memory fake.

use std::collections::BTreeSet;

use crate::model::{IpvsTable, Operation, ServiceId};

/// The IPVS boundary: a dump and single writes. Implemented by the netlink client and by the
/// in-memory fake used in unit tests.
pub trait IpvsKernel {
    /// Reads every service and destination of the namespace.
    fn dump(&mut self) -> Result<IpvsTable, crate::IpvsError>;
    /// Reads only the given services and their destinations; services the kernel does not have
    /// are absent from the result. A focused sync uses it so that one change costs reads in
    /// proportion to that change. The default filters a full dump; the netlink client reads
    /// each service on its own.
    fn read_services(&mut self, ids: &BTreeSet<ServiceId>) -> Result<IpvsTable, crate::IpvsError> {
        let mut table = self.dump()?;
        table.services.retain(|id, _| ids.contains(id));
        Ok(table)
    }
    /// Performs one write.
    fn apply(&mut self, op: &Operation) -> Result<(), crate::IpvsError>;
}
