//! What `diff`, `apply` and the daemon share: inputs -> target table, scope, plan options, the
//! clock, and [`sync_kernel`], the one function that performs a sync of the director (IPVS,
//! drain state file, VIP addresses).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use lb_config::Settings;
use lb_ipvs_sync::reconcile::{
    DrainBook, Focus, PlanOptions, Scope, SyncError, SyncReport, plan, render_operation,
    sync_focused, sync_once,
};
use lb_ipvs_sync::target::{TargetService, target_table};
use lb_ipvs_sync::vip::{VipError, VipInterface, VipPlan, plan_vips};
use lb_ipvs_sync::{IpvsKernel, IpvsTable, Operation, ServiceId};
use tracing::info;

use crate::inputs::{InputFiles, Loaded, UsageError, load};
use crate::state_file;

/// Inputs resolved for a kernel sync.
pub struct SyncInputs {
    /// The files as loaded, with their problems.
    pub loaded: Loaded,
    /// The IPVS table the inputs describe.
    pub target: BTreeMap<ServiceId, TargetService>,
    /// The managed VIP ranges: nothing outside them is read or written.
    pub scope: Scope,
    /// Delete guard and drain timeouts from the settings.
    pub options: PlanOptions,
    /// Where drain deadlines are kept between runs.
    pub state_file: PathBuf,
}

/// Loads the inputs; refuses settings without managed ranges (nothing could be synced safely).
pub fn prepare(
    inputs: &InputFiles,
    state_file: Option<PathBuf>,
    force: bool,
) -> Result<SyncInputs, UsageError> {
    let loaded = load(inputs)?;
    loaded
        .settings
        .require_managed_ranges()
        .context("a sync needs managed_vip_ranges in the settings")
        .map_err(UsageError)?;
    let target = target_table(&loaded.outcome.state);
    let scope = Scope::new(loaded.settings.managed_vip_ranges.clone());
    let options = plan_options(&loaded.settings, force);
    let state_file = state_file.unwrap_or_else(|| loaded.settings.state_file.clone());
    Ok(SyncInputs {
        loaded,
        target,
        scope,
        options,
        state_file,
    })
}

/// Plan options from the settings.
pub(crate) fn plan_options(settings: &Settings, force: bool) -> PlanOptions {
    PlanOptions {
        max_delete_share: settings.max_delete_share,
        force,
        drain_timeout_secs: settings.drain_timeout_secs,
        udp_drain_timeout_secs: settings.udp_drain_timeout_secs,
    }
}

/// Seconds since the Unix epoch: the reconciler's notion of now.
#[allow(clippy::disallowed_methods)]
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What one kernel sync needs besides the kernel: shared by `lbctl apply` and `lbctl run`.
pub struct KernelSyncRequest<'a> {
    /// The IPVS table to reach.
    pub target: &'a BTreeMap<ServiceId, TargetService>,
    /// The VIPs the desired state binds (the sync adds those still serving in the kernel).
    pub desired_vips: &'a BTreeSet<IpAddr>,
    /// Managed VIP ranges: nothing outside them is ever touched.
    pub scope: &'a Scope,
    /// Drain timeouts and the delete guard.
    pub options: &'a PlanOptions,
    /// Drain deadlines from the previous pass.
    pub drain: &'a DrainBook,
    /// Seconds since the Unix epoch.
    pub now: u64,
    /// Where to persist the drain book after the pass (`None`: keep it in memory only).
    pub state_file: Option<&'a Path>,
    /// The VIP interface to manage (`None`: leave addresses alone).
    pub vip_interface: Option<&'a str>,
    /// A focused pass instead of a full one (the daemon, between resyncs).
    pub incremental: Option<Incremental<'a>>,
}

/// What a focused pass starts from: the services that changed, and what the last clean pass
/// left behind. Only the focus is read from the kernel; the rest of the table is taken as the
/// last pass left it (a full pass every resync period checks that belief).
pub struct Incremental<'a> {
    /// The services to read, plan and write.
    pub focus: &'a Focus,
    /// The table after the last clean pass.
    pub table: &'a IpvsTable,
    /// The VIPs the last clean pass left on the interface (`None`: unknown, sync them).
    pub vips: Option<&'a BTreeSet<IpAddr>>,
}

/// What one kernel sync did.
pub struct KernelSyncOutcome {
    /// The IPVS pass.
    pub report: SyncReport,
    /// The table right after the pass (for VIPs, status and BGP); `None` if that dump failed.
    pub after: Option<IpvsTable>,
    /// VIP changes, when VIPs are managed and that step succeeded.
    pub vips: Option<VipPlan>,
    /// The VIPs on the interface after the pass, when VIPs are managed and known to be right
    /// (the step succeeded, or a focused pass found the wanted set unchanged).
    pub vip_set: Option<BTreeSet<IpAddr>>,
    /// The wanted VIPs known to be on the interface after the pass, also when the VIP step
    /// failed part-way (`None`: VIPs not managed, or the table after the pass is unknown). BGP
    /// announces only these.
    pub vips_confirmed: Option<BTreeSet<IpAddr>>,
    /// Services read from the kernel before planning (a full dump reads them all).
    pub services_read: usize,
    /// Steps after the IPVS pass that failed (state file, dump, VIPs): the pass itself stands.
    pub step_errors: Vec<StepError>,
}

/// The longest the VIP step (rtnetlink) may take; it is a handful of requests.
const VIP_STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A follow-up step of a sync that failed.
#[derive(Debug)]
pub struct StepError {
    /// `state_file`, `dump` or `vips`.
    pub step: &'static str,
    /// What went wrong, with its causes.
    pub error: anyhow::Error,
}

impl StepError {
    /// Whether the step failed because the kernel or a tool did not answer in time (a hang,
    /// reported as such in logs and metrics).
    pub(crate) fn is_timeout(&self) -> bool {
        self.error.chain().any(|cause| {
            cause
                .downcast_ref::<lb_ipvs_sync::IpvsError>()
                .is_some_and(lb_ipvs_sync::IpvsError::is_timeout)
                || cause
                    .downcast_ref::<lb_director::netfilter::NetfilterError>()
                    .is_some_and(lb_director::netfilter::NetfilterError::is_timeout)
                || cause
                    .downcast_ref::<VipError>()
                    .is_some_and(VipError::is_timeout)
        })
    }
}

impl KernelSyncOutcome {
    /// Whether the IPVS pass and every follow-up step succeeded without failures.
    pub(crate) fn is_clean(&self) -> bool {
        self.report.is_clean() && self.step_errors.is_empty()
    }

    /// Whether an IPVS write or a follow-up step timed out.
    pub(crate) fn timed_out(&self) -> bool {
        self.report.failed.iter().any(|f| f.error.is_timeout())
            || self.step_errors.iter().any(StepError::is_timeout)
    }
}

/// One sync of the director: IPVS pass (dump, plan, guard, apply), drain book persisted, table
/// dumped again, VIP addresses adjusted.
///
/// The IPVS calls block (the netlink client is synchronous): the daemon runs this on a blocking
/// thread. A failed first dump is an error and nothing is written; later steps that fail are
/// collected in [`KernelSyncOutcome::step_errors`].
pub async fn sync_kernel<K: IpvsKernel>(
    kernel: &mut K,
    request: &KernelSyncRequest<'_>,
) -> Result<KernelSyncOutcome, SyncError> {
    let report = match &request.incremental {
        Some(incremental) => sync_focused(
            kernel,
            request.target,
            request.scope,
            request.drain,
            request.now,
            request.options,
            incremental.focus,
        )?,
        None => sync_once(
            kernel,
            request.target,
            request.scope,
            request.drain,
            request.now,
            request.options,
        )?,
    };
    let mut step_errors = Vec::new();
    if let Some(path) = request.state_file
        && let Err(error) = state_file::write(path, &report.drain)
    {
        step_errors.push(StepError {
            step: "state_file",
            error,
        });
    }
    let after = match table_after(kernel, request.incremental.as_ref()) {
        Ok(table) => Some(table),
        Err(e) => {
            step_errors.push(StepError {
                step: "dump",
                error: anyhow::Error::new(e).context("cannot dump the IPVS table after the sync"),
            });
            None
        }
    };
    // A full pass read every service of the dump (the table after it is the same size).
    let services_read = match (&request.incremental, &after) {
        (Some(incremental), _) => incremental.focus.services.len(),
        (None, Some(table)) => table.services.len(),
        (None, None) => 0,
    };
    if report.failed.is_empty()
        && report.skipped.is_empty()
        && let Some(after) = after.as_ref()
        && let Some(error) = read_back(request, &report, after)
    {
        step_errors.push(StepError {
            step: "read_back",
            error,
        });
    }
    let mut vips = None;
    let mut vip_set = None;
    let mut vips_confirmed = None;
    if let (Some(interface), Some(after)) = (request.vip_interface, after.as_ref()) {
        let wanted = wanted_vips(request.desired_vips, after, request.scope);
        let unchanged = request
            .incremental
            .as_ref()
            .and_then(|i| i.vips)
            .is_some_and(|last| *last == wanted);
        if unchanged {
            vips_confirmed = Some(wanted.clone());
            vip_set = Some(wanted);
        } else {
            let mut confirmed = BTreeSet::new();
            // Bounded like every kernel call: a hung rtnetlink must not hold the kernel slot.
            let step = tokio::time::timeout(
                VIP_STEP_TIMEOUT,
                sync_vips(interface, &wanted, request.scope, &mut confirmed),
            )
            .await
            .unwrap_or(Err(VipError::Timeout(VIP_STEP_TIMEOUT)));
            match step {
                Ok(plan) => {
                    vips = Some(plan);
                    vip_set = Some(wanted);
                }
                Err(error) => step_errors.push(StepError {
                    step: "vips",
                    error: anyhow::Error::new(error)
                        .context(format!("cannot sync the VIPs on {interface}")),
                }),
            }
            vips_confirmed = Some(confirmed);
        }
    }
    Ok(KernelSyncOutcome {
        report,
        after,
        vips,
        vip_set,
        vips_confirmed,
        services_read,
        step_errors,
    })
}

/// The table after a pass: a full dump, or for a focused pass the last clean table with the
/// focus's services read again.
fn table_after<K: IpvsKernel>(
    kernel: &mut K,
    incremental: Option<&Incremental<'_>>,
) -> Result<IpvsTable, lb_ipvs_sync::IpvsError> {
    let Some(incremental) = incremental else {
        return kernel.dump();
    };
    let fresh = kernel.read_services(&incremental.focus.services)?;
    let mut table = incremental.table.clone();
    for id in &incremental.focus.services {
        table.services.remove(id);
    }
    table.services.extend(fresh.services);
    Ok(table)
}

/// Reads back what the pass wrote: plans again against the dump taken after it. Any add or
/// in-place edit still pending means the kernel did not keep an attribute it accepted (older
/// kernels silently drop attributes they do not know, e.g. GUE/GRE tunnel settings before
/// 5.2/5.3), or someone changed the table in between. Deletes and drain quiesces are left out:
/// the guard or a running drain may hold them back on purpose.
fn read_back(
    request: &KernelSyncRequest<'_>,
    report: &SyncReport,
    after: &IpvsTable,
) -> Option<anyhow::Error> {
    let again = plan(
        request.target,
        after,
        request.scope,
        &report.drain,
        request.now,
        request.options,
    );
    let pending: Vec<String> = again
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
        .collect();
    (!pending.is_empty()).then(|| {
        anyhow::anyhow!(
            "read back after the sync: the kernel does not hold what was written, still pending: {}",
            pending.join("; ")
        )
    })
}

/// Every desired VIP, and every managed VIP that still has a service in the kernel (draining,
/// or held back by the guard): a VIP is removed only when nothing serves it any more.
pub(crate) fn wanted_vips(
    desired: &BTreeSet<IpAddr>,
    after: &IpvsTable,
    scope: &Scope,
) -> BTreeSet<IpAddr> {
    let mut wanted = desired.clone();
    wanted.extend(
        after
            .services
            .keys()
            .filter_map(|id| id.inet())
            .filter(|key| scope.contains_addr(key.vip))
            .map(|key| key.vip),
    );
    wanted
}

/// Brings the interface's addresses to `wanted`; `confirmed` collects the wanted VIPs known
/// to be on it, also when a step fails part-way (nothing, when the interface itself fails).
async fn sync_vips(
    interface: &str,
    wanted: &BTreeSet<IpAddr>,
    scope: &Scope,
    confirmed: &mut BTreeSet<IpAddr>,
) -> Result<VipPlan, VipError> {
    let vips = VipInterface::ensure(interface).await?;
    let present = vips.addresses().await?;
    confirmed.extend(wanted.intersection(&present));
    let plan = plan_vips(wanted, &present, &scope.managed);
    for vip in &plan.add {
        vips.add(*vip).await?;
        confirmed.insert(*vip);
    }
    for vip in &plan.remove {
        vips.remove(*vip).await?;
    }
    info!(
        interface,
        added = plan.add.len(),
        removed = plan.remove.len(),
        "VIPs in sync"
    );
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use lb_config::{Protocol, RealServerKey, ServiceKey};
    use lb_ipvs_sync::fake::FakeKernel;
    use lb_ipvs_sync::{IpvsError, KernelForward};

    use super::*;

    /// A netfilter tool that hung is a timeout through the step's context; other failures are
    /// not. Fails if `is_timeout` looks only at the outer error.
    #[test]
    fn a_step_error_knows_a_timeout_under_its_context() {
        use lb_director::netfilter::NetfilterError;
        let hung = StepError {
            step: "netfilter",
            error: anyhow::Error::new(NetfilterError::Timeout {
                program: "iptables-restore".into(),
                args: "--noflush".into(),
                after: std::time::Duration::from_secs(30),
            })
            .context("cannot install the rules"),
        };
        assert!(hung.is_timeout());
        let refused = StepError {
            step: "netfilter",
            error: anyhow::Error::new(NetfilterError::Render { detail: "x".into() })
                .context("cannot install the rules"),
        };
        assert!(!refused.is_timeout());
        let dump = StepError {
            step: "dump",
            error: anyhow::Error::new(IpvsError::Timeout {
                request: "GET_SERVICE",
                object: "services".into(),
                after: std::time::Duration::from_secs(10),
            })
            .context("cannot dump the IPVS table after the sync"),
        };
        assert!(dump.is_timeout());
        let vips = StepError {
            step: "vips",
            error: anyhow::Error::new(VipError::Timeout(VIP_STEP_TIMEOUT))
                .context("cannot sync the VIPs on lbvip0"),
        };
        assert!(vips.is_timeout());
    }

    /// A kernel that accepts weight edits but keeps the old weight, like an old kernel that
    /// silently ignores an attribute.
    struct ForgetfulKernel(FakeKernel);

    impl IpvsKernel for ForgetfulKernel {
        fn dump(&mut self) -> Result<IpvsTable, IpvsError> {
            self.0.dump()
        }
        fn apply(&mut self, op: &Operation) -> Result<(), IpvsError> {
            match op {
                Operation::EditDestination { .. } => Ok(()),
                other => self.0.apply(other),
            }
        }
    }

    fn target(weight: u32) -> BTreeMap<ServiceId, TargetService> {
        let key = ServiceKey {
            vip: "10.0.0.100".parse().unwrap(),
            protocol: Protocol::Tcp,
            port: 80,
        };
        let rs = RealServerKey {
            addr: "10.0.1.11".parse().unwrap(),
            port: 80,
        };
        let spec = lb_ipvs_sync::ServiceSpec {
            id: ServiceId::Inet(key),
            scheduler: "rr".into(),
            flags: 0,
            timeout: 0,
            netmask_prefix: 32,
            pe_name: None,
        };
        let dest = lb_ipvs_sync::DestinationSpec {
            key: rs,
            forward: KernelForward::Masq,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: None,
        };
        BTreeMap::from([(
            ServiceId::Inet(key),
            TargetService {
                spec,
                destinations: BTreeMap::from([(rs, dest)]),
            },
        )])
    }

    fn run<K: IpvsKernel>(
        kernel: &mut K,
        target: &BTreeMap<ServiceId, TargetService>,
    ) -> KernelSyncOutcome {
        let scope = Scope::new(vec!["10.0.0.96/28".parse().unwrap()]);
        let vips = BTreeSet::new();
        let request = KernelSyncRequest {
            target,
            desired_vips: &vips,
            scope: &scope,
            options: &PlanOptions::default(),
            drain: &DrainBook::default(),
            now: 1_000,
            state_file: None,
            vip_interface: None,
            incremental: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(sync_kernel(kernel, &request)).unwrap()
    }

    #[test]
    fn read_back_is_clean_when_the_kernel_keeps_everything() {
        let mut kernel = FakeKernel::new(IpvsTable::default());
        let first = run(&mut kernel, &target(1));
        assert!(first.step_errors.is_empty(), "{:?}", first.step_errors);
        let edit = run(&mut kernel, &target(5));
        assert!(edit.step_errors.is_empty(), "{:?}", edit.step_errors);
        assert_eq!(edit.report.applied.len(), 1);
    }

    #[test]
    fn read_back_reports_an_attribute_the_kernel_did_not_keep() {
        let mut kernel = ForgetfulKernel(FakeKernel::new(IpvsTable::default()));
        let first = run(&mut kernel, &target(1));
        assert!(first.step_errors.is_empty(), "{:?}", first.step_errors);
        let edit = run(&mut kernel, &target(5));
        let steps: Vec<&str> = edit.step_errors.iter().map(|e| e.step).collect();
        assert_eq!(steps, ["read_back"]);
        let text = format!("{:#}", edit.step_errors[0].error);
        assert!(
            text.contains("-e -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 5"),
            "{text}"
        );
        assert!(!edit.is_clean());
    }
}
