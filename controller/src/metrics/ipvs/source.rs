//! Where the collector gets its IPVS snapshot: any [`IpvsKernel`] (the fake in tests), or the
//! real netlink client, connected lazily and reconnected after an error.

use lb_ipvs_sync::netlink::IpvsClient;
use lb_ipvs_sync::{IpvsError, IpvsKernel, IpvsTable};

/// One dump of services and destinations. Why a trait of its own: the collector only reads,
/// and the real source must be able to (re)connect, which `IpvsKernel` does not model.
pub(crate) trait TableSource: Send {
    /// Reads the whole table of the namespace.
    fn dump_table(&mut self) -> Result<IpvsTable, IpvsError>;
}

impl<K: IpvsKernel + Send> TableSource for K {
    fn dump_table(&mut self) -> Result<IpvsTable, IpvsError> {
        self.dump()
    }
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
    fn dump_table(&mut self) -> Result<IpvsTable, IpvsError> {
        let client = match &mut self.client {
            Some(client) => client,
            None => self.client.insert(IpvsClient::connect()?),
        };
        let result = client.dump();
        if result.is_err() {
            self.client = None;
        }
        result
    }
}
