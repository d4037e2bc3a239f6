//! Where the routes go: our own BGP speaker, or a local BIRD (routing-daemon mode). The one
//! place that knows the difference; the announcer task only says what to announce.

use lb_bgp_announcer::bird::{self, BirdOptions};
use lb_bgp_announcer::{
    Announcements, BirdError, PeerStatus, ShutdownMode, Speaker, SpeakerError, SpeakerHandle,
};
use tracing::warn;

use super::settings::{AnnouncerConfig, StopMode};

/// A started announcer backend.
pub(crate) enum Backend {
    /// Sessions to the configured peers.
    Speaker(SpeakerHandle),
    /// Static routes in a BIRD include file; `applied` is what BIRD has (None: unknown).
    Bird {
        /// File, protocol names, birdc.
        options: BirdOptions,
        /// The set BIRD was last reloaded with.
        applied: Option<Announcements>,
    },
}

impl Backend {
    /// Starts the speaker (binding its listener) or prepares the BIRD mode.
    pub(crate) async fn start(config: AnnouncerConfig) -> Result<Self, SpeakerError> {
        Ok(match config {
            AnnouncerConfig::Speaker(config) => Backend::Speaker(Speaker::start(*config).await?),
            AnnouncerConfig::Bird(options) => Backend::Bird {
                options,
                applied: None,
            },
        })
    }

    /// Hands `routes` over (nothing while `withdrawn_all`, `lbctl withdraw`). The speaker sends incremental UPDATEs;
    /// BIRD is rewritten and reloaded only when the set changed.
    pub(crate) async fn publish(
        &mut self,
        routes: &Announcements,
        withdrawn_all: bool,
    ) -> Result<(), BirdError> {
        match self {
            Backend::Speaker(handle) => {
                handle.set_announcements(routes.clone());
                if handle.is_withdrawn_all() != withdrawn_all {
                    handle.withdraw_all(withdrawn_all);
                }
                Ok(())
            }
            Backend::Bird { options, applied } => {
                let wanted = if withdrawn_all {
                    Announcements::new()
                } else {
                    routes.clone()
                };
                if applied.as_ref() == Some(&wanted) {
                    return Ok(());
                }
                bird::apply(&wanted, options).await?;
                *applied = Some(wanted);
                Ok(())
            }
        }
    }

    /// The sessions (empty in BIRD mode).
    pub(crate) fn peers(&self) -> Vec<PeerStatus> {
        match self {
            Backend::Speaker(handle) => handle.status(),
            Backend::Bird { .. } => Vec::new(),
        }
    }

    /// Stops: withdraw (graceful-shutdown community, wait, withdraw, Cease; BIRD: an empty
    /// include file) or leave the routes to graceful restart.
    pub(crate) async fn stop(self, mode: StopMode) {
        match (self, mode) {
            (Backend::Speaker(handle), StopMode::Withdraw) => {
                handle.shutdown_with(ShutdownMode::Withdraw).await;
            }
            (Backend::Speaker(handle), StopMode::GracefulRestart) => {
                handle.shutdown_with(ShutdownMode::GracefulRestart).await;
            }
            (Backend::Bird { options, .. }, StopMode::Withdraw) => {
                if let Err(e) = bird::apply(&Announcements::new(), &options).await {
                    warn!(error = %e, "cannot withdraw the VIP routes from BIRD");
                }
            }
            (Backend::Bird { .. }, StopMode::GracefulRestart) => {}
        }
    }
}
