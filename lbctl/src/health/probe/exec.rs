//! The exec check (keepalived's MISC_CHECK): run a program, exit code 0 = healthy.
//!
//! The program learns what to probe from its environment: `LB_REAL_SERVER_ADDR`,
//! `LB_REAL_SERVER_PORT`, `LB_VIP`, `LB_VPORT` and `LB_PROTOCOL`. It runs without a shell,
//! with stdin, stdout and stderr on /dev/null, and is killed when the check times out.

use std::process::Stdio;

use tokio::process::Command;

use super::ProbeFailure;
use crate::health::target::TargetKey;

/// Runs `command` for `key` and waits for its exit.
pub(super) async fn run(command: &[String], key: &TargetKey) -> Result<(), ProbeFailure> {
    let (program, args) = command.split_first().ok_or(ProbeFailure::EmptyCommand)?;
    let mut child = Command::new(program)
        .args(args)
        .env("LB_REAL_SERVER_ADDR", key.real_server.addr.to_string())
        .env("LB_REAL_SERVER_PORT", key.real_server.port.to_string())
        .env("LB_VIP", key.service.vip.to_string())
        .env("LB_VPORT", key.service.port.to_string())
        .env("LB_PROTOCOL", key.service.protocol.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // A timed-out check drops this future: the child must not outlive it.
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ProbeFailure::Spawn {
            program: program.clone(),
            source,
        })?;
    let status = child.wait().await.map_err(|source| ProbeFailure::Spawn {
        program: program.clone(),
        source,
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
