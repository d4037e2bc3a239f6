//! Active health checks of the real servers: TCP connect, HTTP(S) GET, exec.
//!
//! Contract: [`spawn_health_checker`] follows the desired state, probes every real server of
//! every service that has a check (at the real server's own address, never the VIP), applies
//! rise/fall counts, and publishes [`HealthResults`] whenever a verdict flips. The
//! desired-state builder quiesces (weight 0) real servers whose result is `false` and restores
//! them when it turns `true`; the BGP announcer can use the same results. docs/health-checks.md
//! describes the behaviour for operators.
//!
//! Layout: `check` and `verdict` are pure; `probe` does one probe; `runner` owns the
//! tasks.

mod check;
mod probe;
mod runner;
mod verdict;

#[cfg(test)]
mod shortage_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use lb_config::{DesiredState, HealthCheckDefaults, HealthResults};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::ControllerMetrics;
pub(crate) use probe::ExecPolicy;
pub(crate) use runner::HealthCheckerOptions;

/// Starts the health checker with the default limits (256 probes, 8 exec checks at once)
/// and the exec checks' policy from the settings. The task ends when the desired-state sender
/// is dropped; aborting the handle stops every check.
pub fn spawn_health_checker(
    desired_rx: watch::Receiver<Arc<DesiredState>>,
    defaults: HealthCheckDefaults,
    metrics: ControllerMetrics,
    exec: ExecPolicy,
) -> (watch::Receiver<HealthResults>, JoinHandle<()>) {
    spawn_health_checker_with(
        desired_rx,
        defaults,
        metrics,
        HealthCheckerOptions {
            exec,
            ..HealthCheckerOptions::default()
        },
    )
}

/// [`spawn_health_checker`] with explicit concurrency limits.
pub(crate) fn spawn_health_checker_with(
    desired_rx: watch::Receiver<Arc<DesiredState>>,
    defaults: HealthCheckDefaults,
    metrics: ControllerMetrics,
    options: HealthCheckerOptions,
) -> (watch::Receiver<HealthResults>, JoinHandle<()>) {
    runner::spawn_supervisor(
        desired_rx,
        move |desired: &Arc<DesiredState>| check::checks_of(desired, &defaults),
        metrics,
        options,
    )
}
