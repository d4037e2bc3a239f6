//! Where the collector gets its IPVS numbers: any [`IpvsKernel`] (the fake in tests), or the
//! real netlink client, connected lazily and reconnected after an error.
//!
//! Streamed: a source hands each service to a [`TableVisitor`] and dumps the destinations only
//! of the services the visitor wants, one service at a time, so a scrape never holds the raw
//! dump of the whole table (issue 13: the scrape's peak RSS at 110,000 entries).

use lb_ipvs_sync::netlink::{IpvsClient, NetlinkTransport};
use lb_ipvs_sync::{IpvsError, IpvsKernel, IpvsTable, ObservedDestination, ServiceId, Stats};

/// Receives one dump as it is read: every service of the namespace, each followed by its
/// destinations when [`service`](TableVisitor::service) asked for them.
pub(crate) trait TableVisitor {
    /// At most this many services follow (the length of the services dump), so the visitor
    /// can size its storage once instead of growing it by doubling.
    fn expect_services(&mut self, count: usize);

    /// A service and its counters; returns whether its destinations are wanted (a service
    /// that is not ours costs no destination dump).
    fn service(&mut self, id: &ServiceId, stats: &Stats) -> bool;

    /// The destinations of the service last accepted by [`service`](TableVisitor::service),
    /// in any order, once. A service that vanished since the services dump has none.
    fn destinations(
        &mut self,
        destinations: &mut dyn ExactSizeIterator<Item = &ObservedDestination>,
    );
}

/// One dump of services and destinations. Why a trait of its own: the collector only reads,
/// and the real source must be able to (re)connect, which `IpvsKernel` does not model.
pub(crate) trait TableSource: Send {
    /// Reads the table of the namespace into `visitor`. On an error the visitor may have seen
    /// part of the table; the caller discards it.
    fn visit_table(&mut self, visitor: &mut dyn TableVisitor) -> Result<(), IpvsError>;
}

/// Any kernel model (the fake in tests): one whole dump, then walked. Only the real source
/// below streams.
impl<K: IpvsKernel + Send> TableSource for K {
    fn visit_table(&mut self, visitor: &mut dyn TableVisitor) -> Result<(), IpvsError> {
        visit_whole_table(&self.dump()?, visitor);
        Ok(())
    }
}

/// Walks a table already in memory as a source would stream it.
pub(crate) fn visit_whole_table(table: &IpvsTable, visitor: &mut dyn TableVisitor) {
    visitor.expect_services(table.services.len());
    for (id, service) in &table.services {
        if visitor.service(id, &service.stats) {
            visitor.destinations(&mut service.destinations.values());
        }
    }
}

/// The streamed dump on a netlink client: one services dump, then one destinations dump per
/// wanted service, converted by the visitor before the next is read. As
/// [`IpvsKernel::dump`] does, a service deleted between the two dumps gets an empty
/// destination list (the kernel's destinations dump of an unknown service is empty, not an
/// error) and any error fails the whole dump.
pub(crate) fn visit_client<T: NetlinkTransport>(
    client: &mut IpvsClient<T>,
    visitor: &mut dyn TableVisitor,
) -> Result<(), IpvsError> {
    let services = client.dump_services()?;
    visitor.expect_services(services.len());
    for (spec, stats) in services {
        if visitor.service(&spec.id, &stats) {
            let destinations = client.dump_destinations(&spec.id)?;
            visitor.destinations(&mut destinations.iter());
        }
    }
    Ok(())
}

/// The netlink client, opened on first use and dropped after any error so the next scrape
/// starts on a fresh socket (a socket that lost a reply is out of step for good).
#[derive(Debug, Default)]
pub(crate) struct LazyNetlinkSource {
    client: Option<IpvsClient>,
}

impl LazyNetlinkSource {
    /// No socket yet: the first scrape opens it, so a daemon starting before `ip_vs` is loaded
    /// still comes up.
    pub(crate) fn new() -> Self {
        LazyNetlinkSource { client: None }
    }
}

impl TableSource for LazyNetlinkSource {
    fn visit_table(&mut self, visitor: &mut dyn TableVisitor) -> Result<(), IpvsError> {
        let client = match &mut self.client {
            Some(client) => client,
            None => self.client.insert(IpvsClient::connect()?),
        };
        let result = visit_client(client, visitor);
        if result.is_err() {
            self.client = None;
        }
        result
    }
}
