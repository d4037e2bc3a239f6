//! The health-check driver: one lightweight tokio task per check (not a thread), probes
//! bounded by semaphores, and a supervisor task that owns all verdicts.
//!
//! ```text
//!  checks (watch) --> supervisor --spawn/abort--> check task per check (sleeps most of the time)
//!                        ^   |                         | acquire permit, probe with timeout
//!                        |   +--> HealthResults (watch), lbctl_health_check_up
//!                        +------------ reports (mpsc) -+
//! ```
//!
//! Each task first sleeps a deterministic share of its interval derived from its key (the
//! jitter: thousands of checks with the same interval spread over it instead of probing in
//! bursts), then probes every interval. A probe waits for a permit before its timeout starts,
//! so a queue of probes never fails a real server. Checks that stay across a desired-state
//! change keep their task and rise/fall state; changed or removed ones are aborted. Dropping
//! or aborting the supervisor aborts every task (they live in its `JoinSet`). A probe that
//! failed for lack of a local resource (EMFILE and the like) gives no verdict: the real
//! server's state and its rise/fall counts stay as they were.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use lb_config::HealthResults;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;

use super::check::{Check, CheckKey, ProbeSpec};
use super::probe::{ExecPolicy, ProbeFailure, TlsProbeConfig, probe};
use super::verdict::{RiseFall, combine};
use crate::log_limit::LogLimiter;
use crate::metrics::ControllerMetrics;

/// At most one warning per this period about probes without a verdict.
const SHORTAGE_WARN_PERIOD: Duration = Duration::from_secs(10);

/// Limits of the checker, and whether exec checks may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthCheckerOptions {
    /// TCP and HTTP(S) probes in flight at once.
    pub(crate) max_concurrent_probes: usize,
    /// Exec checks running at once (each is a process: far fewer).
    pub(crate) max_concurrent_execs: usize,
    /// The exec checks' sandbox (disabled by default).
    pub(crate) exec: ExecPolicy,
}

impl Default for HealthCheckerOptions {
    fn default() -> Self {
        HealthCheckerOptions {
            max_concurrent_probes: 256,
            max_concurrent_execs: 8,
            exec: ExecPolicy::Disabled,
        }
    }
}

/// What the check tasks share.
pub(super) struct Limits {
    probes: Semaphore,
    execs: Semaphore,
    tls: TlsProbeConfig,
    exec: ExecPolicy,
}

/// One probe result.
struct Report {
    key: CheckKey,
    task: u64,
    outcome: Result<(), ProbeFailure>,
}

struct Running {
    task: u64,
    check: Check,
    state: RiseFall,
    abort: AbortHandle,
}

/// Starts the supervisor. `to_checks` maps each value of `source` to the checks to run.
pub(crate) fn spawn_supervisor<T, F>(
    source: watch::Receiver<T>,
    to_checks: F,
    metrics: ControllerMetrics,
    options: HealthCheckerOptions,
) -> (watch::Receiver<HealthResults>, JoinHandle<()>)
where
    T: Send + Sync + 'static,
    F: Fn(&T) -> BTreeMap<CheckKey, Check> + Send + 'static,
{
    let (results_tx, results_rx) = watch::channel(HealthResults::default());
    let (reports_tx, reports_rx) = mpsc::channel(1024);
    let limits = Limits {
        probes: Semaphore::new(options.max_concurrent_probes.max(1)),
        execs: Semaphore::new(options.max_concurrent_execs.max(1)),
        tls: TlsProbeConfig::new(),
        exec: options.exec,
    };
    let supervisor = Supervisor::new(limits, metrics, reports_tx, results_tx);
    let handle = tokio::spawn(supervisor.run(source, to_checks, reports_rx));
    (results_rx, handle)
}

struct Supervisor {
    limits: Arc<Limits>,
    metrics: ControllerMetrics,
    running: BTreeMap<CheckKey, Running>,
    tasks: JoinSet<()>,
    reports_tx: mpsc::Sender<Report>,
    results_tx: watch::Sender<HealthResults>,
    next_task: u64,
    shortage_log: LogLimiter,
}

impl Supervisor {
    fn new(
        limits: Limits,
        metrics: ControllerMetrics,
        reports_tx: mpsc::Sender<Report>,
        results_tx: watch::Sender<HealthResults>,
    ) -> Self {
        Supervisor {
            limits: Arc::new(limits),
            metrics,
            running: BTreeMap::new(),
            tasks: JoinSet::new(),
            reports_tx,
            results_tx,
            next_task: 0,
            shortage_log: LogLimiter::new(SHORTAGE_WARN_PERIOD),
        }
    }

    async fn run<T, F>(
        mut self,
        mut source: watch::Receiver<T>,
        to_checks: F,
        mut reports: mpsc::Receiver<Report>,
    ) where
        F: Fn(&T) -> BTreeMap<CheckKey, Check>,
    {
        let checks = to_checks(&source.borrow_and_update());
        self.set_checks(checks);
        loop {
            tokio::select! {
                changed = source.changed() => {
                    if changed.is_err() {
                        tracing::info!("desired state closed: health checker stops");
                        break;
                    }
                    let checks = to_checks(&source.borrow_and_update());
                    self.set_checks(checks);
                }
                Some(report) = reports.recv() => self.on_report(report),
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
        }
        self.tasks.abort_all();
    }

    /// Starts, keeps or stops tasks so that exactly `checks` run. A check whose probe or timing
    /// changed (new timing from a SIGHUP, another path or port) gets a new task but keeps its
    /// verdict until the new check flips it: forgetting it would count a failing real server as
    /// healthy (weight restored) until `fall` new failures.
    fn set_checks(&mut self, checks: BTreeMap<CheckKey, Check>) {
        let stale: Vec<CheckKey> = self
            .running
            .iter()
            .filter(|(key, running)| checks.get(key) != Some(&running.check))
            .map(|(key, _)| *key)
            .collect();
        let mut carried = BTreeMap::new();
        for key in stale {
            if let Some(running) = self.running.remove(&key) {
                running.abort.abort();
                if checks.contains_key(&key) {
                    carried.insert(key, running.state.carried());
                } else {
                    let _ = self
                        .metrics
                        .health_check_up
                        .remove_label_values(&labels(&key));
                }
            }
        }
        for (key, check) in checks {
            if self.running.contains_key(&key) {
                continue;
            }
            let task = self.next_task;
            self.next_task += 1;
            let abort = self.tasks.spawn(check_loop(
                check.clone(),
                task,
                Arc::clone(&self.limits),
                self.reports_tx.clone(),
            ));
            self.running.insert(
                key,
                Running {
                    task,
                    check,
                    state: carried.remove(&key).unwrap_or_default(),
                    abort,
                },
            );
        }
        tracing::debug!(checks = self.running.len(), "health checks updated");
        self.publish();
    }

    fn on_report(&mut self, report: Report) {
        let Some(running) = self.running.get_mut(&report.key) else {
            return;
        };
        if running.task != report.task {
            return; // from a task replaced in the meantime
        }
        let key = report.key;
        if let Err(failure) = &report.outcome {
            if let Some(reason) = failure.no_verdict_reason() {
                self.metrics
                    .health_probes_without_verdict_total
                    .with_label_values(&[reason])
                    .inc();
                if let Some(held_back) = self.shortage_log.allow(tokio::time::Instant::now()) {
                    tracing::warn!(service = %key.service, real_server = %key.real_server,
                        %failure, reason, held_back,
                        "health probe failed for a reason of the director's own: no verdict, the real server keeps its state");
                }
                return;
            }
            tracing::debug!(service = %key.service, real_server = %key.real_server, %failure, "health probe failed");
        }
        let timing = running.check.timing;
        let flipped = running
            .state
            .record(report.outcome.is_ok(), timing.rise, timing.fall);
        let Some(healthy) = flipped else { return };
        match &report.outcome {
            Ok(()) => {
                tracing::info!(service = %key.service, real_server = %key.real_server, "real server healthy")
            }
            Err(failure) => {
                tracing::warn!(service = %key.service, real_server = %key.real_server, %failure, "real server unhealthy")
            }
        }
        self.metrics
            .health_check_up
            .with_label_values(&labels(&key))
            .set(i64::from(healthy));
        self.publish();
    }

    fn publish(&self) {
        let results = combine(
            self.running
                .iter()
                .map(|(key, running)| (key, running.state.verdict())),
        );
        self.results_tx.send_if_modified(|current| {
            let changed = *current != results;
            if changed {
                *current = results;
            }
            changed
        });
    }
}

/// `lbctl_health_check_up` labels: vip, vport, protocol, endpoint.
fn labels(key: &CheckKey) -> [String; 4] {
    [
        key.service.vip.to_string(),
        key.service.port.to_string(),
        key.service.protocol.as_str().to_owned(),
        key.real_server.to_string(),
    ]
}

/// The task of one check: spread, then probe every interval until aborted.
async fn check_loop(check: Check, task: u64, limits: Arc<Limits>, reports: mpsc::Sender<Report>) {
    let interval = check.timing.interval.max(Duration::from_millis(1));
    tokio::time::sleep(spread(&check.key, interval)).await;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = probe_once(&check, &limits).await;
        let report = Report {
            key: check.key,
            task,
            outcome,
        };
        if reports.send(report).await.is_err() {
            return;
        }
    }
}

/// One probe under the right semaphore and the check's timeout.
pub(super) async fn probe_once(check: &Check, limits: &Limits) -> Result<(), ProbeFailure> {
    let semaphore = match check.probe {
        ProbeSpec::Exec { .. } => &limits.execs,
        ProbeSpec::Tcp { .. } | ProbeSpec::Http { .. } => &limits.probes,
    };
    // The semaphores are never closed; if one were, probing without a permit is the lesser
    // evil compared to reporting every real server down.
    let _permit = semaphore.acquire().await.ok();
    let timeout = check.timing.timeout;
    match tokio::time::timeout(timeout, probe(check, &limits.tls, &limits.exec)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ProbeFailure::Timeout(timeout)),
    }
}

/// The first probe's delay: a share of the interval that depends only on the check, so
/// checks spread evenly and a restart keeps the same rhythm.
fn spread(key: &CheckKey, interval: Duration) -> Duration {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let nanos = u64::try_from(interval.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_nanos(hasher.finish() % nanos)
}

/// Tests: a supervisor whose probe outcomes the test feeds in (its checks' own tasks must
/// not probe in the meantime: give them a long interval).
#[cfg(test)]
pub(super) struct FedSupervisor(Supervisor);

#[cfg(test)]
impl FedSupervisor {
    /// Runs `checks`; returns it with the published verdicts.
    pub(super) fn new(
        checks: BTreeMap<CheckKey, Check>,
        metrics: ControllerMetrics,
    ) -> (Self, watch::Receiver<HealthResults>) {
        let (results_tx, results_rx) = watch::channel(HealthResults::default());
        let (reports_tx, _) = mpsc::channel(1);
        let mut supervisor = Supervisor::new(test_limits(1, 1), metrics, reports_tx, results_tx);
        supervisor.set_checks(checks);
        (FedSupervisor(supervisor), results_rx)
    }

    /// One probe outcome of `key`, as its task would report it.
    pub(super) fn feed(&mut self, key: CheckKey, outcome: Result<(), ProbeFailure>) {
        if let Some(task) = self.0.running.get(&key).map(|r| r.task) {
            self.0.on_report(Report { key, task, outcome });
        }
    }
}

#[cfg(test)]
pub(super) fn test_limits(probes: usize, execs: usize) -> Limits {
    test_limits_with(probes, execs, test_exec_policy())
}

#[cfg(test)]
pub(super) fn test_limits_with(probes: usize, execs: usize, exec: ExecPolicy) -> Limits {
    Limits {
        probes: Semaphore::new(probes),
        execs: Semaphore::new(execs),
        tls: TlsProbeConfig::new(),
        exec,
    }
}

/// Exec checks allowed from the system's binary directories, run as `nobody` when the tests
/// run as root (as in CI), else as the tests' own user (the only one it can switch to).
#[cfg(test)]
pub(super) fn test_exec_policy() -> ExecPolicy {
    let own = nix::unistd::getuid();
    let (uid, gid) = if own.is_root() {
        (65534, 65534)
    } else {
        (own.as_raw(), nix::unistd::getgid().as_raw())
    };
    ExecPolicy::Enabled(super::probe::ExecSandbox::for_tests(
        vec!["/usr/bin".into(), "/bin".into()],
        uid,
        gid,
    ))
}
