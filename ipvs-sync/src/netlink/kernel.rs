//! [`IpvsKernel`] on the netlink client: the reconciler's view of the real kernel.

use std::collections::{BTreeMap, BTreeSet};

use super::client::IpvsClient;
use super::transport::NetlinkTransport;
use crate::IpvsError;
use crate::kernel::IpvsKernel;
use crate::model::{IpvsTable, ObservedService, Operation, ServiceId, ServiceSpec, Stats};
use crate::sync_daemon::{DaemonOp, SyncDaemon};

impl<T: NetlinkTransport> IpvsKernel for IpvsClient<T> {
    /// One service dump, then one destination dump per service. Not a snapshot: the kernel
    /// does not freeze the table between dumps (see the module notes), so the reconciler diffs.
    fn dump(&mut self) -> Result<IpvsTable, IpvsError> {
        let mut table = IpvsTable::default();
        for (spec, stats) in self.dump_services()? {
            let service = self.with_destinations(spec, stats)?;
            table.insert(service);
        }
        Ok(table)
    }

    /// One GET_SERVICE per service and, for those that exist, one destination dump: two round
    /// trips per service, whatever the size of the rest of the table.
    fn read_services(&mut self, ids: &BTreeSet<ServiceId>) -> Result<IpvsTable, IpvsError> {
        let mut table = IpvsTable::default();
        for id in ids {
            if let Some((spec, stats)) = self.get_service(id)? {
                let service = self.with_destinations(spec, stats)?;
                table.insert(service);
            }
        }
        Ok(table)
    }

    fn apply(&mut self, op: &Operation) -> Result<(), IpvsError> {
        match op {
            Operation::AddService { service } => self.add_service(service),
            Operation::EditService { service } => self.edit_service(service),
            Operation::DeleteService { service } => self.delete_service(service),
            Operation::AddDestination {
                service,
                destination,
            } => self.add_destination(service, destination),
            Operation::EditDestination {
                service,
                destination,
            } => self.edit_destination(service, destination),
            Operation::DeleteDestination {
                service,
                destination,
            } => self.delete_destination(service, destination),
        }
    }

    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        IpvsClient::sync_daemons(self)
    }

    fn apply_daemon(&mut self, op: &DaemonOp) -> Result<(), IpvsError> {
        match op {
            DaemonOp::Stop { role } => self.stop_sync_daemon(*role),
            DaemonOp::Start { daemon } => self.start_sync_daemon(daemon),
        }
    }
}

impl<T: NetlinkTransport> IpvsClient<T> {
    /// A service with its destinations (one destination dump).
    fn with_destinations(
        &mut self,
        spec: ServiceSpec,
        stats: Stats,
    ) -> Result<ObservedService, IpvsError> {
        let destinations = self
            .dump_destinations(&spec.id)?
            .into_iter()
            .map(|d| (d.spec.key, d))
            .collect::<BTreeMap<_, _>>();
        Ok(ObservedService {
            spec,
            stats,
            destinations,
        })
    }
}
