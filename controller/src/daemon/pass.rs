//! One pass of the daemon: build the desired state (keeping last good keys), publish it, sync
//! the kernel, record metrics, publish status and the serving VIPs.
//!
//! The kernel and the VIP interface are reached only through the [`KernelSlot`], problems leave
//! through the [`ProblemSink`]. Besides those, this file reads the clock (the reconciler takes
//! time as a parameter; latencies and `finished_at` are measured here) and, on the first pass,
//! the state file: its drain deadlines, and the last good version of each ConfigMap key, which
//! seed the key memory before the first build (a restart while a key is invalid keeps serving
//! it). Each pass hands the memory's versions to the sync, which writes the file when they or
//! the drains changed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use lb_config::{DesiredState, Settings};
use lb_director::netfilter::{DirectorRules, director_rules};
use lb_director::sync::persisted::PersistedState;
use lb_director::sync::{
    NetfilterHost, NetfilterJob, PassInput, PassOutcome, ReadMode, Step, StepError, state_file,
    wanted_sync_daemons,
};
use lb_ipvs_sync::reconcile::{DrainBook, PlanOptions, Scope};
use lb_ipvs_sync::wanted::wanted_table;
use lb_ipvs_sync::{IpvsKernel, Operation};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::announce_gate::AnnounceGate;
use super::connection_sync;
use super::core::{CoreOptions, DaemonOutputs};
use super::input::DaemonInputs;
use super::kernel::{KernelSlot, SyncOutcome};
use super::memory::KeyMemory;
use super::problems::{ProblemSink, ProblemTracker, record_metric};
use super::status::{StatusSnapshot, SyncSummary};
use super::verdict::{Reason, Verdict};
use super::view::{KernelView, Wanted, next_pass, rules_to_install, wanted_of};
use crate::metrics::ControllerMetrics;
use crate::prepare::{now_secs, plan_options};

/// State kept between passes.
pub(crate) struct PassState<K> {
    kernel: KernelSlot<K>,
    metrics: ControllerMetrics,
    sink: Arc<dyn ProblemSink>,
    options: CoreOptions,
    memory: KeyMemory,
    tracker: ProblemTracker,
    drain: Option<DrainBook>,
    /// What the state file holds (as read at start, then as the last pass left it), and its
    /// path: a reload that moves `state_file` must not skip the first write to the new one.
    on_disk: Option<(PathBuf, PersistedState)>,
    last_clean: Option<Arc<DesiredState>>,
    latency_mark: Option<SystemTime>,
    view: Option<KernelView>,
    full_due: bool,
    snapshot: StatusSnapshot,
    desired_tx: watch::Sender<Arc<DesiredState>>,
    status_tx: watch::Sender<Arc<StatusSnapshot>>,
    serving_tx: watch::Sender<BTreeSet<IpAddr>>,
    gate: AnnounceGate,
}

impl<K: IpvsKernel + Send + 'static> PassState<K> {
    /// Fresh state; returns the receiving ends of the outputs.
    pub(crate) fn new(
        kernel: KernelSlot<K>,
        metrics: ControllerMetrics,
        sink: Arc<dyn ProblemSink>,
        options: CoreOptions,
    ) -> (Self, DaemonOutputs) {
        let (desired_tx, desired) = watch::channel(Arc::new(DesiredState::default()));
        let (status_tx, status) = watch::channel(Arc::new(StatusSnapshot::default()));
        let (serving_tx, serving_vips) = watch::channel(BTreeSet::new());
        metrics.ready.set(0);
        let gate = AnnounceGate::new(options.manage_vips, options.netfilter);
        let state = PassState {
            kernel,
            metrics,
            sink,
            options,
            memory: KeyMemory::default(),
            tracker: ProblemTracker::default(),
            drain: None,
            on_disk: None,
            last_clean: None,
            latency_mark: None,
            view: None,
            full_due: false,
            snapshot: StatusSnapshot::default(),
            desired_tx,
            status_tx,
            serving_tx,
            gate,
        };
        (
            state,
            DaemonOutputs {
                desired,
                status,
                serving_vips,
            },
        )
    }

    /// One pass; `resync` marks a periodic pass (no input changed), for drift accounting.
    pub(crate) async fn run(&mut self, inputs: &DaemonInputs, resync: bool) {
        let settings = Arc::clone(&inputs.settings.borrow());
        let connected = *inputs.connected.borrow();
        let config = inputs.config.borrow().clone();
        let endpoints = inputs.endpoints.borrow().clone();
        let health = Arc::clone(&inputs.health.borrow());
        self.snapshot.controller.connected = connected;
        self.snapshot.scope = Scope::new(settings.managed_vip_ranges.clone());
        let (Some(config), Some(endpoints)) = (config, endpoints) else {
            info!("waiting for the initial lists before touching the kernel");
            self.snapshot.controller.listed = false;
            self.publish(false);
            return;
        };
        self.snapshot.controller.listed = true;
        // Before the first build: the persisted key versions seed the memory.
        self.load_state(&settings);

        let started = Instant::now();
        let built = self.memory.build(
            &config,
            self.options.keep_on_configmap_delete,
            &settings,
            &endpoints.snapshot,
            &health,
            now_secs(),
        );
        self.metrics
            .latency_by_stage
            .with_label_values(&["build"])
            .observe(started.elapsed().as_secs_f64());
        let fresh = self.tracker.update(&built.problems);
        if !fresh.is_empty() {
            self.sink.report(fresh);
        }
        record_metric(&self.metrics, &built.problems);
        if built.kept_all {
            warn!("the ConfigMap is deleted or unreadable: keeping the last good entries");
        }
        if !built.newly_kept.is_empty() {
            self.sink.kept(built.newly_kept);
        }
        self.metrics
            .configmap_kept_keys
            .set(built.kept.len() as i64);
        let mut desired = Arc::new(built.outcome.state);
        self.desired_tx.send_if_modified(|old| {
            let changed = **old != *desired;
            if changed {
                *old = Arc::clone(&desired);
            } else {
                // The published one: a view taken from it knows it by pointer.
                desired = Arc::clone(old);
            }
            changed
        });
        self.snapshot.controller.problems = built.problems;
        self.snapshot.controller.kept_keys = built.kept.iter().map(|k| k.key.clone()).collect();
        self.snapshot.controller.kept = built.kept;
        self.snapshot.controller.configmap_kept = built.kept_all;
        self.snapshot.desired = Arc::clone(&desired);
        self.snapshot.health = health;

        if settings.managed_vip_ranges.is_empty() {
            error!("no managed_vip_ranges in the settings: nothing may be programmed");
            self.snapshot.controller.last_sync = Some(summary(
                Verdict::Error,
                0,
                0,
                0.0,
                Some("no managed_vip_ranges in the settings".to_owned()),
            ));
            self.publish(false);
            return;
        }
        let options = plan_options(&settings, self.options.force);
        let wanted: Wanted = wanted_of(self.view.as_ref(), &desired);
        let drain = self.drain_book(&settings);
        let read = next_pass(
            self.view.as_ref(),
            resync || self.full_due,
            &settings,
            &wanted,
            &drain,
        );
        if read == ReadMode::Whole {
            self.full_due = false;
        }
        let planned = self.options.netfilter.then(|| director_rules(&desired));
        let install = rules_to_install(self.view.as_ref(), &read, planned.as_ref());
        let input = self.pass_input(
            &settings,
            &desired,
            Arc::clone(&wanted),
            drain,
            install,
            options,
        );
        let pass = PassMeta {
            kind: read.label(),
            settings: Arc::clone(&settings),
            wanted,
            netfilter: planned,
        };
        let ok = self.sync(input, read, &desired, resync, pass).await;
        if ok
            && let Some(t) = endpoints.changed_at
            && self.latency_mark != Some(t)
        {
            self.latency_mark = Some(t);
            let latency = SystemTime::now().duration_since(t).unwrap_or_default();
            self.metrics
                .endpoint_programming_latency_seconds
                .observe(latency.as_secs_f64());
        }
        self.publish(ok && connected);
    }

    /// Deletes every managed service and VIP (`--cleanup-on-exit`): empty wanted table, forced, no
    /// drain. Two passes at most (a delete may need the second after a race).
    pub(crate) async fn cleanup(&mut self, inputs: &DaemonInputs) {
        let settings = Arc::clone(&inputs.settings.borrow());
        if settings.managed_vip_ranges.is_empty() {
            return;
        }
        let empty = Arc::new(DesiredState::default());
        for _ in 0..2 {
            let options = PlanOptions {
                force: true,
                drain_timeout_secs: 0,
                udp_drain_timeout_secs: 0,
                ..plan_options(&settings, true)
            };
            let drain = self.drain_book(&settings);
            let input = self.pass_input(
                &settings,
                &empty,
                Arc::new(wanted_table(&empty)),
                drain,
                self.options.netfilter.then(|| director_rules(&empty)),
                options,
            );
            self.view = None;
            let vip_interface = self.vip_interface(&settings);
            match self
                .kernel
                .sync(input, ReadMode::Whole, vip_interface)
                .await
            {
                Ok(outcome) => {
                    let report = outcome.pass.report;
                    info!(applied = report.applied.len(), "cleanup pass");
                    self.on_disk = outcome
                        .pass
                        .persisted
                        .map(|state| (self.state_file(&settings), state));
                    if report.applied.is_empty() {
                        break;
                    }
                    self.drain = Some(report.drain);
                }
                Err(e) => {
                    error!(error = %e, "cleanup failed");
                    break;
                }
            }
        }
    }

    /// Asks for the next pass to be full (a resync came due while changes were pending).
    pub(crate) fn request_full(&mut self) {
        self.full_due = true;
    }

    /// Reads the state file once (the first pass, or a cleanup before any): the drain book,
    /// and the kept key versions into the key memory. An unreadable file is ignored with a
    /// warning: drains get fresh deadlines, keys start without a kept version.
    fn load_state(&mut self, settings: &Settings) {
        if self.drain.is_some() {
            return;
        }
        let path = self.state_file(settings);
        let (state, on_disk) = match state_file::read(&path) {
            Ok(state) => (state.clone(), Some((path.clone(), state))),
            Err(e) => {
                warn!(
                    error = %lb_director::error_text::Chain(&e),
                    "ignoring the state file"
                );
                // Unknown content: the first pass replaces it.
                (PersistedState::default(), None)
            }
        };
        for (key, problems) in self.memory.seed(&state.keys) {
            let problem = problems
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            warn!(
                key = %key,
                problem = %problem,
                "the state file's last good version of a key does not parse: not kept"
            );
        }
        if !state.keys.is_empty() {
            info!(
                keys = state.keys.len(),
                file = %path.display(),
                "last good key versions loaded from the state file"
            );
        }
        self.drain = Some(state.drain);
        self.on_disk = on_disk;
    }

    /// The drain book so far (read from the state file on the first pass).
    fn drain_book(&mut self, settings: &Settings) -> DrainBook {
        self.load_state(settings);
        self.drain.clone().unwrap_or_default()
    }

    /// What the state file of these settings holds, when known.
    fn on_disk_at(&self, settings: &Settings) -> Option<PersistedState> {
        let path = self.state_file(settings);
        self.on_disk
            .as_ref()
            .filter(|(at, _)| *at == path)
            .map(|(_, state)| state.clone())
    }

    fn state_file(&self, settings: &Settings) -> PathBuf {
        self.options
            .state_file
            .clone()
            .unwrap_or_else(|| settings.state_file.clone())
    }

    /// The input of a pass. `install`: the netfilter rules to install (`None` when netfilter
    /// is not managed, or a focus finds them unchanged).
    fn pass_input(
        &self,
        settings: &Settings,
        desired: &DesiredState,
        wanted: Wanted,
        drain: DrainBook,
        install: Option<DirectorRules>,
        options: PlanOptions,
    ) -> PassInput {
        PassInput {
            wanted,
            desired_vips: desired.vips.clone(),
            scope: Scope::new(settings.managed_vip_ranges.clone()),
            options,
            drain,
            now: now_secs(),
            state_file: Some(self.state_file(settings)),
            keys: self.memory.versions(),
            on_disk: self.on_disk_at(settings),
            netfilter: install.map(|rules| NetfilterJob {
                settings: Arc::new(settings.clone()),
                rules,
                host: NetfilterHost::default(),
            }),
            sync_daemons: wanted_sync_daemons(settings),
        }
    }

    /// The VIP interface to manage (`None`: VIPs are left alone).
    fn vip_interface(&self, settings: &Settings) -> Option<String> {
        self.options
            .manage_vips
            .then(|| settings.vip_interface.clone())
    }

    /// Syncs and records; returns whether the pass succeeded (ok or guarded).
    async fn sync(
        &mut self,
        input: PassInput,
        read: ReadMode,
        desired: &Arc<DesiredState>,
        resync: bool,
        pass: PassMeta,
    ) -> bool {
        let started = Instant::now();
        self.view = None;
        // The input carries the same rules as `pass.netfilter`, but only when this pass syncs
        // them.
        let netfilter_synced = input.netfilter.is_some();
        let vip_interface = self.vip_interface(&pass.settings);
        let result = self.kernel.sync(input, read, vip_interface).await;
        let secs = started.elapsed().as_secs_f64();
        self.metrics.sync_duration_seconds.observe(secs);
        self.metrics
            .latency_by_stage
            .with_label_values(&["apply"])
            .observe(secs);
        match result {
            Ok(outcome) => {
                self.metrics
                    .sync_passes_total
                    .with_label_values(&[pass.kind])
                    .inc();
                self.metrics
                    .sync_services_read
                    .observe(outcome.pass.services_read as f64);
                self.metrics
                    .sync_dumps_total
                    .inc_by(u64::from(outcome.pass.dumps));
                let ok = self.record(&outcome.pass, desired, resync, secs, &pass);
                // A failed sync daemon does not cost the next change its focus (see
                // `table_is_clean`); it is retried at the next resync.
                let clean = outcome.pass.table_is_clean();
                self.gate.record_vips(outcome.vips_confirmed());
                let vips_on_interface = outcome.vips_on_interface();
                let SyncOutcome { pass: done, .. } = outcome;
                self.on_disk = done
                    .persisted
                    .clone()
                    .map(|state| (self.state_file(&pass.settings), state));
                self.drain = Some(done.report.drain.clone());
                self.snapshot.drain = done.report.drain;
                if netfilter_synced
                    && let Some(rules) = &pass.netfilter
                    && !done.step_errors.iter().any(|e| e.step == Step::Netfilter)
                {
                    self.gate.record_netfilter(rules);
                }
                if let Some(after) = done.after {
                    let vips = self
                        .gate
                        .announceable(&after, &self.snapshot.scope, desired);
                    self.serving_tx.send_if_modified(|old| {
                        let changed = *old != vips;
                        *old = vips;
                        changed
                    });
                    let after = Arc::new(after);
                    if clean {
                        self.view = Some(KernelView {
                            settings: pass.settings,
                            desired: Arc::clone(desired),
                            wanted: pass.wanted,
                            table: Arc::clone(&after),
                            vips: vips_on_interface,
                            netfilter: pass.netfilter,
                        });
                    }
                    self.snapshot.last_table = Some(after);
                    // A pass without a dump carries the counters of the services it did not
                    // read from the last dump: the table's counters are as old as that dump.
                    if done.dumps > 0 || self.snapshot.table_at.is_none() {
                        self.snapshot.table_at = Some(std::time::SystemTime::now());
                    }
                }
                ok
            }
            Err(e) => {
                let reason = if e.is_timeout() {
                    Reason::Timeout
                } else {
                    Reason::Error
                };
                error!(
                    error = %e,
                    reason = reason.label(),
                    "sync failed: the kernel is left as it is"
                );
                self.metrics
                    .syncs_total
                    .with_label_values(&[Verdict::Error.label(), reason.label()])
                    .inc();
                self.snapshot.controller.last_sync = Some(SyncSummary {
                    pass: pass.kind.to_owned(),
                    ..summary(Verdict::Error, 0, 0, secs, Some(e.to_string()))
                });
                self.last_clean = None;
                false
            }
        }
    }

    fn record(
        &mut self,
        outcome: &PassOutcome,
        desired: &Arc<DesiredState>,
        resync: bool,
        secs: f64,
        pass: &PassMeta,
    ) -> bool {
        let report = &outcome.report;
        let m = &self.metrics;
        let c = &report.counts;
        for (kind, n) in [
            ("add_service", c.add_service),
            ("edit_service", c.edit_service),
            ("delete_service", c.delete_service),
            ("add_destination", c.add_destination),
            ("edit_destination", c.edit_destination),
            ("quiesce_destination", c.quiesce_destination),
            ("delete_destination", c.delete_destination),
        ] {
            if n > 0 {
                m.netlink_operations_total
                    .with_label_values(&[kind])
                    .inc_by(n as u64);
            }
        }
        for f in &report.failed {
            let errno = match f.error.errno() {
                Some(errno) => errno.to_string(),
                None if f.error.is_timeout() => "timeout".to_owned(),
                None => "none".to_owned(),
            };
            m.netlink_errors_total
                .with_label_values(&[operation_kind(&f.operation), errno.as_str()])
                .inc();
        }
        if report.guard_refusal.is_some() {
            m.guard_refusals_total.inc();
        }
        if resync
            && !report.applied.is_empty()
            && self.last_clean.as_deref() == Some(desired.as_ref())
        {
            warn!(
                writes = report.applied.len(),
                "repaired drift: the kernel was changed behind our back"
            );
            m.drift_repairs_total.inc_by(report.applied.len() as u64);
        }
        self.last_clean = outcome.is_clean().then(|| Arc::clone(desired));
        if let Some(daemons) = &outcome.daemons {
            let error = outcome
                .step_errors
                .iter()
                .find(|e| e.step == Step::SyncDaemons)
                .map(StepError::text);
            let previous = self.snapshot.controller.connection_sync.take();
            self.snapshot.controller.connection_sync =
                Some(connection_sync::record(daemons, error, previous, m));
        }
        for step in &outcome.step_errors {
            let reason = if step.is_timeout() {
                Reason::Timeout
            } else {
                Reason::Error
            };
            warn!(
                step = step.step.name(),
                reason = reason.label(),
                error = step.text(),
                "sync step failed"
            );
        }
        let (verdict, reason) = Verdict::of(outcome);
        m.syncs_total
            .with_label_values(&[verdict.label(), reason.label()])
            .inc();
        let error = report
            .guard_refusal
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| report.failed.first().map(|f| f.error.to_string()))
            .or_else(|| outcome.step_errors.first().map(StepError::text));
        self.snapshot.controller.last_sync = Some(SyncSummary {
            pass: pass.kind.to_owned(),
            services_read: outcome.services_read,
            dumps: outcome.dumps,
            times_ms: outcome
                .times
                .steps_ms()
                .into_iter()
                .map(|(step, ms)| (step.to_owned(), ms))
                .collect(),
            ..summary(
                verdict,
                report.applied.len(),
                report.failed.len(),
                secs,
                error,
            )
        });
        verdict.succeeded()
    }

    fn publish(&mut self, ready: bool) {
        self.snapshot.controller.ready = ready;
        self.metrics.ready.set(i64::from(ready));
        self.status_tx.send_replace(Arc::new(self.snapshot.clone()));
    }
}

fn summary(
    verdict: Verdict,
    applied: usize,
    failed: usize,
    duration_secs: f64,
    error: Option<String>,
) -> SyncSummary {
    SyncSummary {
        finished_at: now_secs(),
        result: verdict.label().to_owned(),
        applied,
        failed,
        duration_secs,
        error,
        pass: "full".to_owned(),
        services_read: 0,
        dumps: 0,
        times_ms: BTreeMap::new(),
    }
}

/// What a pass records about itself, and what its view keeps when it ends clean.
struct PassMeta {
    /// `full` or `focused`.
    kind: &'static str,
    settings: Arc<Settings>,
    wanted: Wanted,
    netfilter: Option<DirectorRules>,
}

fn operation_kind(op: &Operation) -> &'static str {
    match op {
        Operation::AddService { .. } => "add_service",
        Operation::EditService { .. } => "edit_service",
        Operation::DeleteService { .. } => "delete_service",
        Operation::AddDestination { .. } => "add_destination",
        Operation::EditDestination { .. } => "edit_destination",
        Operation::DeleteDestination { .. } => "delete_destination",
    }
}
