//! The `lbctl run` daemon: keeps the director's kernel equal to the ConfigMap and the endpoints,
//! continuously, and keeps working when the cluster does not.
//!
//! ```text
//!  kube watchers (crate::kube)          file pollers (files)        health checker (crate::health)
//!  ConfigMap / Services / Slices        --config-file / --endpoints-file        |
//!        | config, endpoints, connected       | config, endpoints               | health
//!        +----------------+-------------------+---------------------------------+
//!                         v  watch channels (input::DaemonInputs)   settings <- SIGHUP
//!                 core::Controller  -- coalesce (debounce) + resync tick --
//!                         | pass::PassState: memory::KeyMemory (last good per key) -> build
//!                         |   -> problems (metric, Events once)
//!                         |   -> view::next_pass (ReadMode: whole, or a focus on what changed)
//!                         |   -> kernel::KernelSlot: lb_director::sync::sync_director
//!                         |      (netfilter, IPVS, state file; blocking), then sync_vips_after (VIPs)
//!                         v
//!     outputs: desired (Arc<DesiredState>), status (StatusSnapshot), serving VIPs (BGP)
//!                         v
//!              http: /healthz /readyz /status /metrics
//! ```
//!
//! Contract: no kernel write before every source completed its initial list; an unreachable
//! API server keeps the last known state (and makes the daemon not ready); a key that stops
//! parsing keeps its last good version; every pass plans against what the kernel holds now: a
//! full pass dumps the table, a focused pass reads again each service it plans (and every
//! resync period, or after any failure, the next pass is full).

mod announce_gate;
mod connection_sync;
mod core;
mod debounce;
mod error;
mod file_events;
mod files;
mod http;
mod input;
mod kernel;
mod malloc_arenas;
pub(crate) mod memory;
mod pass;
mod problems;
mod run;
mod status;
mod verdict;
mod view;

pub use self::core::{Controller, CoreOptions, DaemonOutputs};
pub use self::error::DaemonError;
pub(crate) use self::files::{
    read_config, read_endpoints, watch_config_file, watch_endpoints_file,
};
pub(crate) use self::http::{ControlSocket, HttpState, ServeLimits, bind, serve_control};
pub use self::input::{ConfigInput, DaemonInputs, EndpointsInput, InputSenders, channels};
pub use self::kernel::{Connect, KernelSlot};
pub use self::problems::{LogSink, ProblemSink};
pub(crate) use self::problems::{kept_note, log_kept};
pub use self::run::{DaemonOptions, OnDelete, run};
pub use self::status::StatusDocument;
pub use self::status::{
    ConnectionSyncStatus, ControllerStatus, KeptFrom, KeptKey, QueryError, Rates, RealServerStatus,
    SUMMARY_LIST_LIMIT, ServiceFilter, ServiceStatus, StatusCounts, StatusQuery, StatusSnapshot,
    StatusSummary, SyncSummary, VipSummary,
};
