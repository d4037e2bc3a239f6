//! [`IpvsKernel`] on the netlink client: the reconciler's view of the real kernel.

use std::collections::BTreeMap;

use super::client::IpvsClient;
use super::transport::NetlinkTransport;
use crate::IpvsError;
use crate::model::{IpvsKernel, IpvsTable, ObservedService, Operation};

impl<T: NetlinkTransport> IpvsKernel for IpvsClient<T> {
    /// One service dump, then one destination dump per service. Not a snapshot: the kernel
    /// does not freeze the table between dumps (see the module notes), so the reconciler diffs.
    fn dump(&mut self) -> Result<IpvsTable, IpvsError> {
        let mut table = IpvsTable::default();
        for (spec, stats) in self.dump_services()? {
            let destinations = self
                .dump_destinations(&spec.id)?
                .into_iter()
                .map(|d| (d.spec.key, d))
                .collect::<BTreeMap<_, _>>();
            table.services.insert(
                spec.id,
                ObservedService {
                    spec,
                    stats,
                    destinations,
                },
            );
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
}
