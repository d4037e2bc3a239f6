//! Command-line interface definition (clap). Each command's help explains it with an example.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Control plane for LVS/IPVS directors.
///
/// Keeps the kernel's IPVS table, the VIP addresses and the netfilter rules of a director equal
/// to one ConfigMap that maps virtual IPs to static real servers or Kubernetes Services.
#[derive(Debug, Parser)]
#[command(
    name = "lbctl",
    version,
    propagate_version = true,
    after_long_help = "Files: /etc/lbctl/settings.toml (settings), /etc/lbctl/kubeconfig, \
/var/lib/lbctl (state file, sysctl record), /run/lbctl (control socket). Documentation: \
/usr/share/doc/lbctl (docs/ in the source tree)."
)]
pub(crate) struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `lb_ipvs_sync=debug`.
    #[arg(long, global = true, env = "LBCTL_LOG", default_value = "warn")]
    pub(crate) log: String,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Output format of the operator commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// For people: ipvsadm-like lines and tables.
    Text,
    /// For machines: one JSON document on stdout.
    Json,
}

/// The files that describe what the director should run.
#[derive(Debug, Args)]
pub(crate) struct FileArgs {
    /// The VIP ConfigMap: a manifest (`kubectl get cm -o yaml`) or just its data map.
    #[arg(long = "config", short = 'c', value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// Daemon settings (TOML). Without it, built-in defaults apply, which manage no VIP range.
    #[arg(long, short = 's', value_name = "FILE", env = "LBCTL_SETTINGS")]
    pub(crate) settings: Option<PathBuf>,
    /// Offline endpoints of the Services the ConfigMap references (YAML; see docs/endpoints.md).
    #[arg(long, short = 'e', value_name = "FILE")]
    pub(crate) endpoints: Option<PathBuf>,
}

impl FileArgs {
    /// The same paths for the controller library.
    pub(crate) fn operator_files(&self) -> lb_controller::files::OperatorFiles {
        lb_controller::files::OperatorFiles {
            config: self.config.clone(),
            settings: self.settings.clone(),
            endpoints: self.endpoints.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check a VIP ConfigMap and print one line per problem (`key: position: message`).
    ///
    /// Exits 0 when there is no error, 1 when there is at least one (warnings alone do not
    /// fail), 64 when the file cannot be read at all.
    ///
    /// Example:
    ///   lbctl validate examples/configmap.yaml
    ///   lbctl validate --settings /etc/lbctl/settings.toml --output json cm.yaml
    #[command(verbatim_doc_comment)]
    Validate {
        /// The VIP ConfigMap (manifest or data map).
        file: PathBuf,
        /// Settings, to also check VIPs against the managed ranges.
        #[arg(long, short = 's', value_name = "FILE", env = "LBCTL_SETTINGS")]
        settings: Option<PathBuf>,
        /// Offline endpoints, to also check Service references and port conflicts.
        #[arg(long, short = 'e', value_name = "FILE")]
        endpoints: Option<PathBuf>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Serve the validating admission webhook: `kubectl apply` of the VIP ConfigMap with a key
    /// the directors would reject is refused with the same per-key messages as `validate`.
    ///
    /// HTTPS only (POST /validate, GET /healthz); the certificate files are re-read when they
    /// change (cert-manager rotation). Deployment, failure policy and certificates:
    /// docs/webhook.md and deploy/webhook/.
    ///
    /// Example:
    ///   lbctl webhook --tls-cert /tls/tls.crt --tls-key /tls/tls.key \
    ///                 --settings /etc/lbctl/settings.toml
    #[command(verbatim_doc_comment)]
    Webhook(crate::commands::webhook::WebhookArgs),
    /// Read an existing IPVS set-up (an `ipvsadm -Sn` dump, or a keepalived configuration
    /// with its includes) and write the ConfigMap and the managed VIP ranges that reproduce
    /// its table (docs/migration.md).
    ///
    /// What cannot be carried over is listed on stderr as `FILE:LINE: ...`. Parts that would
    /// change the table (firewall-mark services, sorry servers, ...) make it exit 1 and write
    /// nothing, unless --allow-partial. Exit 64 when the input cannot be read or parsed.
    ///
    /// Example:
    ///   lbctl import --from keepalived /etc/keepalived/keepalived.conf \
    ///                --configmap-out cm.yaml --settings-out ranges.toml
    ///   ipvsadm -Sn | lbctl import --from ipvsadm --settings-out ranges.toml > cm.yaml
    #[command(verbatim_doc_comment)]
    Import(crate::commands::import::ImportArgs),
    /// Print the IPVS table the director should have, without touching the kernel.
    ///
    /// Lines read like `ipvsadm -S`: `-A -t VIP:PORT -s SCHED` per virtual service and
    /// `-a -t VIP:PORT -r RS:PORT -m -w WEIGHT` per real server, plus the VIPs and the
    /// netfilter intents. Problems go to stderr; entries with errors are left out.
    ///
    /// Example:
    ///   lbctl plan --config examples/configmap.yaml --settings examples/settings.toml \
    ///              --endpoints examples/endpoints.yaml
    #[command(verbatim_doc_comment)]
    Plan {
        #[command(flatten)]
        files: FileArgs,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Show what a sync would change in the running kernel: IPVS operations in ipvsadm form,
    /// and the netfilter tables (NOTRACK/SNAT) a sync would rewrite. Reads; writes nothing.
    /// Exit code 0 when in sync, 2 when a sync would change something.
    ///
    /// Needs CAP_NET_ADMIN (IPVS refuses even reads without it) and the ip_vs module.
    ///
    /// Example:
    ///   lbctl diff --config cm.yaml --settings /etc/lbctl/settings.toml
    #[command(verbatim_doc_comment)]
    Diff {
        #[command(flatten)]
        files: FileArgs,
        /// State file: drains, last good ConfigMap keys (default: the settings' state_file).
        #[arg(long, value_name = "FILE")]
        state_file: Option<PathBuf>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Do one sync: program IPVS and the VIP addresses from the given files, then exit.
    ///
    /// Never flushes: only virtual services inside the managed VIP ranges are changed. Real
    /// servers that leave are drained (weight 0) and deleted once idle or after the drain
    /// timeout; run apply again (or the daemon) to finish drains. A sync that would delete more
    /// than `max_delete_share` of the managed services is refused unless --force. A key that is
    /// invalid now is applied from its last good version in the state file (as the daemon
    /// does); every key that builds cleanly becomes its key's last good version.
    ///
    /// Example:
    ///   lbctl apply --config cm.yaml --settings /etc/lbctl/settings.toml
    #[command(verbatim_doc_comment)]
    Apply {
        #[command(flatten)]
        files: FileArgs,
        /// State file: drains, last good ConfigMap keys (default: the settings' state_file).
        #[arg(long, value_name = "FILE")]
        state_file: Option<PathBuf>,
        /// Apply even when the delete guard refuses (e.g. the ConfigMap was emptied on purpose).
        #[arg(long)]
        force: bool,
        /// Do not manage VIP addresses on the VIP interface.
        #[arg(long)]
        no_vips: bool,
        /// Output format of the report.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Run the controller: watch the ConfigMap and endpoints, keep the kernel in step.
    ///
    /// Without --config-file it watches Kubernetes (the ConfigMap named in the settings, the
    /// Services it references and their EndpointSlices); with it, it reloads local files on
    /// change. SIGTERM stops gracefully (IPVS is kept unless --cleanup-on-exit), SIGHUP reloads
    /// the settings. HTTP on the settings' listen_address (read-only): /healthz /readyz
    /// /status /metrics; operator actions (`lbctl withdraw`) on the Unix control socket
    /// (http.control_socket, mode 0600). With [bgp] enabled it announces the served VIPs.
    ///
    /// Example:
    ///   lbctl run --settings /etc/lbctl/settings.toml --kubeconfig /etc/lbctl/kubeconfig
    ///   lbctl run --settings settings.toml --config-file cm.yaml --endpoints-file ep.yaml
    #[command(verbatim_doc_comment)]
    Run(crate::commands::run::RunArgs),
    /// Show what a running daemon programmed: services, real servers, weights, connections.
    ///
    /// Reads the daemon's /status (default: the settings' listen_address, else 127.0.0.1:9469).
    /// Above 1,000 services, text output without a filter shows the summary (counts by
    /// state and health, one line per VIP); --all prints every service, --vip, --service and
    /// --key some. -o json prints the document (or the summary with --summary).
    ///
    /// Example:
    ///   lbctl status
    ///   lbctl status --address 127.0.0.1:9469 --output json --timeout 2
    ///   lbctl status --vip 203.0.113.10
    ///   lbctl status --service shop/web
    ///   lbctl status --summary --watch 2
    #[command(verbatim_doc_comment)]
    Status(crate::commands::status::StatusArgs),
    /// Withdraw every BGP route (or one VIP's) of a running daemon for maintenance.
    ///
    /// Sessions stay up and IPVS keeps forwarding; routers move new flows to other
    /// directors. The withdrawal lasts until `--undo`, across daemon restarts; `--undo`
    /// without `--vip` ends every withdrawal. Uses POST /withdraw on the daemon's control
    /// socket (a Unix socket for root and the daemon's user; never TCP) and waits until
    /// /status shows it applied. `lbctl drain` is the former name and still works.
    ///
    /// Example:
    ///   lbctl withdraw
    ///   lbctl withdraw --vip 203.0.113.10
    ///   lbctl withdraw --undo --socket /run/lbctl/control.sock
    #[command(verbatim_doc_comment, visible_alias = "drain")]
    Withdraw(crate::commands::withdraw::WithdrawArgs),
    /// Remove every netfilter rule lbctl installed (director and node-bypass chains, our
    /// nftables tables), from every backend, and nothing else.
    ///
    /// Example:
    ///   lbctl cleanup
    #[command(verbatim_doc_comment)]
    Cleanup {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// On a Kubernetes node: NOTRACK and FORWARD ACCEPT (kept first, ahead of the CNI's chains)
    /// for the traffic between the directors' local-address ranges and the pod ranges.
    ///
    /// One pass, or one every --interval seconds until SIGTERM/SIGINT (the rules stay).
    ///
    /// Example:
    ///   lbctl node-bypass --director-ranges 10.0.1.200/29 --pod-ranges 10.244.0.0/16
    ///   lbctl node-bypass --director-ranges 10.0.1.200/29 --pod-ranges 10.244.0.0/16 --interval 10
    ///   lbctl node-bypass --cleanup
    #[command(verbatim_doc_comment)]
    NodeBypass {
        /// The directors' source ranges (FullNAT pools, local addresses), comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "CIDR,...")]
        director_ranges: Vec<ipnetwork::IpNetwork>,
        /// The cluster's pod ranges, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "CIDR,...")]
        pod_ranges: Vec<ipnetwork::IpNetwork>,
        /// Netfilter backend.
        #[arg(long, value_enum, default_value_t = crate::commands::node_bypass::BypassBackend::Auto)]
        backend: crate::commands::node_bypass::BypassBackend,
        /// Re-sync every SECS seconds until SIGTERM/SIGINT instead of once.
        #[arg(long, value_name = "SECS")]
        interval: Option<u64>,
        /// Remove the node rules instead of installing them.
        #[arg(long)]
        cleanup: bool,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Print a shell completion script on stdout.
    ///
    /// The Debian package installs them; otherwise load one from your shell's start-up file.
    ///
    /// Example:
    ///   lbctl completions bash > /etc/bash_completion.d/lbctl
    ///   lbctl completions zsh > "${fpath[1]}/_lbctl"
    ///   lbctl completions fish > ~/.config/fish/completions/lbctl.fish
    #[command(verbatim_doc_comment)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (lbctl.1, lbctl-COMMAND.1) into a directory (for packaging).
    #[command(hide = true)]
    ManPages {
        /// Where to write them.
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
    },
}
