//! Which failures are the input's fault (exit code 64): the library's usage errors, wherever
//! they sit in the chain, and the few lbctl finds itself (a bad flag value, output it cannot
//! write as JSON).

use std::fmt;

use lb_controller::daemon::DaemonError;
use lb_controller::files::UsageError;
use lb_controller::own_addresses::OwnAddressError;
use lb_controller::webhook::WebhookError;

/// Input lbctl itself cannot use; the text names the flag or value and the cause.
#[derive(Debug)]
pub(crate) struct CliUsage(pub(crate) String);

impl CliUsage {
    /// Wraps `error` with its causes as one line (as `{:#}` printed it before).
    pub(crate) fn from_error(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        CliUsage(format!("{:#}", anyhow::Error::new(error)))
    }
}

impl fmt::Display for CliUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliUsage {}

/// Whether `error` is unusable input (exit code 64) rather than a failed operation (1).
pub(crate) fn is_usage(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.is::<UsageError>()
            || e.is::<CliUsage>()
            || e.downcast_ref::<DaemonError>()
                .is_some_and(DaemonError::is_usage)
            || e.downcast_ref::<OwnAddressError>()
                .is_some_and(OwnAddressError::is_usage)
            || e.downcast_ref::<WebhookError>()
                .is_some_and(WebhookError::is_usage)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mutation: drop the DaemonError or OwnAddressError arm and a refused range exits with 1.
    #[test]
    fn usage_errors_are_found_under_the_library_types_and_a_context() {
        let refused = || UsageError::Refused("range 127.0.0.0/8 holds 127.0.0.1".into());
        assert!(is_usage(&anyhow::Error::new(refused()).context("outer")));
        assert!(is_usage(&anyhow::Error::new(DaemonError::Usage(refused()))));
        assert!(is_usage(&anyhow::Error::new(DaemonError::OwnAddresses(
            OwnAddressError::Refused(refused())
        ))));
        assert!(is_usage(&anyhow::Error::new(CliUsage("--timeout".into()))));
        let host = OwnAddressError::Runtime(std::io::Error::other("no threads"));
        assert!(!is_usage(&anyhow::Error::new(DaemonError::OwnAddresses(
            host
        ))));
        assert!(!is_usage(&anyhow::anyhow!("apply failed")));
    }
}
