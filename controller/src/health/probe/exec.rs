//! The exec check (keepalived's MISC_CHECK): run a program, exit code 0 = healthy.
//!
//! Only when the settings enable exec checks, and only a program that passes the sandbox's
//! vetting (see [`super::sandbox`]); the child runs as the settings' unprivileged user, without
//! capabilities, in `/`, with an environment of exactly `LB_REAL_SERVER_ADDR`,
//! `LB_REAL_SERVER_PORT`, `LB_VIP`, `LB_VPORT` and `LB_PROTOCOL`. It runs without a shell,
//! with stdin, stdout and stderr on /dev/null, and is killed when the check times out.

use std::process::Stdio;

use tokio::process::Command;

use super::ProbeFailure;
use super::sandbox::ExecPolicy;
use crate::health::check::CheckKey;

/// Runs `command` for `key` under `policy` and waits for its exit.
pub(super) async fn run(
    command: &[String],
    key: &CheckKey,
    policy: &ExecPolicy,
) -> Result<(), ProbeFailure> {
    let (program, args) = command.split_first().ok_or(ProbeFailure::EmptyCommand)?;
    let refused = |reason: String| ProbeFailure::ExecRefused {
        program: program.clone(),
        reason,
    };
    let ExecPolicy::Enabled(sandbox) = policy else {
        return Err(refused(
            "exec checks are disabled on this director (settings: [exec_checks]; a change \
             needs a restart)"
                .to_owned(),
        ));
    };
    let real = sandbox.vet(program).map_err(refused)?;
    let mut child = Command::new(&real)
        .args(args)
        .env_clear()
        .env("LB_REAL_SERVER_ADDR", key.real_server.addr.to_string())
        .env("LB_REAL_SERVER_PORT", key.real_server.port.to_string())
        .env("LB_VIP", key.service.vip.to_string())
        .env("LB_VPORT", key.service.port.to_string())
        .env("LB_PROTOCOL", key.service.protocol.as_str())
        .current_dir("/")
        // std drops the supplementary groups (setgroups) before setuid when lbctl is root.
        .gid(sandbox.gid)
        .uid(sandbox.uid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // A timed-out check drops this future: the child must not outlive it.
        .kill_on_drop(true)
        .spawn()
        .map_err(|cause| ProbeFailure::Spawn {
            program: program.clone(),
            cause,
        })?;
    let status = child.wait().await.map_err(|cause| ProbeFailure::Spawn {
        program: program.clone(),
        cause,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(ProbeFailure::Exit {
            program: program.clone(),
            status,
        })
    }
}
