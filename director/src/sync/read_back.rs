//! After the writes: the table as the kernel now holds it, without dumping it again, and the
//! check that it kept what it acknowledged.
//!
//! The table after a pass is the table the pass planned from plus the writes the kernel
//! acknowledged ([`predict`]). Only the services written are read again (a GET_SERVICE and a
//! destination dump each) and compared with that model: a difference means the kernel did not
//! keep an attribute it accepted (older kernels silently drop attributes they do not know, e.g.
//! GUE/GRE tunnel settings before 5.2/5.3), or someone changed those services in between. When
//! the writes touched most of the table (an apply from empty), one dump costs fewer round trips
//! than reading each service, and is taken instead. A pass that wrote nothing reads nothing.

use std::collections::BTreeSet;

use lb_ipvs_sync::reconcile::{
    SyncReport, predict, read_back_differences, render_operation, written_services,
};
use lb_ipvs_sync::{IpvsError, IpvsKernel, IpvsTable, ServiceId};

/// The table after a pass and what its read-back found.
pub(super) struct ReadBack {
    /// The table after the pass: the model, with the services read back as the kernel holds
    /// them.
    pub(super) after: IpvsTable,
    /// Writes the kernel does not hold (`ipvsadm`-like lines); empty when it kept everything.
    pub(super) pending: Vec<String>,
    /// Whether the read was a whole dump (the writes touched most of the table).
    pub(super) dumped: bool,
}

/// Reads back what the pass wrote. `before` is the table the pass planned from (for a focus:
/// the last table with the focus's services as read).
pub(super) fn read_back<K: IpvsKernel>(
    kernel: &mut K,
    before: IpvsTable,
    report: &SyncReport,
) -> Result<ReadBack, IpvsError> {
    let mut predicted = before;
    predict(&mut predicted, report);
    let written = written_services(report);
    if written.is_empty() {
        return Ok(ReadBack {
            after: predicted,
            pending: Vec::new(),
            dumped: false,
        });
    }
    // A dump is one service dump plus a destination dump per service; a read is two round
    // trips per service.
    let whole = 2 * written.len() > predicted.services.len() + 1;
    let read = if whole {
        kernel.dump()?
    } else {
        kernel.read_services(&written)?
    };
    let pending = pending(&predicted, &read, &written);
    let after = if whole {
        read
    } else {
        replace(predicted, read, &written)
    };
    Ok(ReadBack {
        after,
        pending,
        dumped: whole,
    })
}

/// `table` with `services` as `read` holds them (absent there: gone).
pub(super) fn replace(
    mut table: IpvsTable,
    mut read: IpvsTable,
    services: &BTreeSet<ServiceId>,
) -> IpvsTable {
    for id in services {
        match read.services.remove(id) {
            Some(service) => {
                table.services.insert(*id, service);
            }
            None => {
                table.services.remove(id);
            }
        }
    }
    table
}

fn pending(predicted: &IpvsTable, read: &IpvsTable, written: &BTreeSet<ServiceId>) -> Vec<String> {
    read_back_differences(predicted, read, written)
        .iter()
        .map(|op| render_operation(op, None))
        .collect()
}
