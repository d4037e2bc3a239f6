//! After the writes: the table as the kernel now holds it, and the check that it kept what it
//! accepted.

use lb_ipvs_sync::reconcile::{SyncReport, plan, render_operation};
use lb_ipvs_sync::{IpvsError, IpvsKernel, IpvsTable, Operation};

use super::input::{PassInput, ReadMode};

/// The table after a pass: a whole dump, or for a focus the last clean table with the focus's
/// services read again.
pub(super) fn table_after<K: IpvsKernel>(
    kernel: &mut K,
    read: &ReadMode,
) -> Result<IpvsTable, IpvsError> {
    let ReadMode::Focus(focus) = read else {
        return kernel.dump();
    };
    let fresh = kernel.read_services(&focus.focus.services)?;
    let mut table = IpvsTable::clone(&focus.table);
    for id in &focus.focus.services {
        table.services.remove(id);
    }
    table.services.extend(fresh.services);
    Ok(table)
}

/// Reads back what the pass wrote: plans again against the table taken after it, and returns
/// the adds and in-place edits still pending (`ipvsadm`-like). Any means the kernel did not
/// keep an attribute it accepted (older kernels silently drop attributes they do not know,
/// e.g. GUE/GRE tunnel settings before 5.2/5.3), or someone changed the table in between.
/// Deletes and drain quiesces are left out: the guard or a running drain may hold them back
/// on purpose.
pub(super) fn pending_after(
    input: &PassInput,
    report: &SyncReport,
    after: &IpvsTable,
) -> Vec<String> {
    let again = plan(
        &input.wanted,
        after,
        &input.scope,
        &report.drain,
        input.now,
        &input.options,
    );
    again
        .operations
        .iter()
        .filter(|op| match op {
            Operation::AddService { .. }
            | Operation::EditService { .. }
            | Operation::AddDestination { .. } => true,
            Operation::EditDestination { .. } => !again.is_quiesce(op),
            Operation::DeleteService { .. } | Operation::DeleteDestination { .. } => false,
        })
        .map(|op| render_operation(op, None))
        .collect()
}
