//! The kernel boundary of IPVS: everything that reads or writes the kernel's table goes through
//! [`IpvsKernel`], so the reconciler and the director's sync run unchanged on the netlink client
//! and on the in-memory fake.

use std::collections::BTreeSet;

use crate::model::{IpvsTable, Operation, ServiceId};
use crate::sync_daemon::{DaemonOp, SyncDaemon};

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
    /// The connection sync daemons the kernel runs. The default (test kernels that have
    /// none) reports none.
    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, crate::IpvsError> {
        Ok(Vec::new())
    }
    /// Starts or stops one sync daemon. The default refuses: a kernel that cannot report
    /// daemons must not pretend to run them.
    fn apply_daemon(&mut self, op: &DaemonOp) -> Result<(), crate::IpvsError> {
        Err(crate::IpvsError::Unsupported {
            object: op.to_string(),
            detail: "this kernel boundary has no sync daemons".to_owned(),
        })
    }
}
