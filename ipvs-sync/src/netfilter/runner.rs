//! Runs the netfilter tools (`iptables-restore`, `nft`, ...) as child processes.
//!
//! Contract: this is the only place that spawns processes for the netfilter layer. A runner may
//! carry a command prefix (`ip netns exec NAME`) so that tests can drive a throwaway network
//! namespace with exactly the code production runs; production uses no prefix.

use std::io::Write;
use std::process::{Command, Stdio};

use tracing::debug;

use super::error::NetfilterError;

/// Spawns netfilter tools, optionally through a prefix such as `ip netns exec NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolRunner {
    prefix: Vec<String>,
}

impl ToolRunner {
    /// Runs tools directly (production).
    pub fn direct() -> Self {
        ToolRunner::default()
    }

    /// Runs every tool as `PREFIX... TOOL ARGS...`, e.g. `["ip", "netns", "exec", "lbnf-1"]`.
    /// Why: lets tests exercise the real backends inside a network namespace.
    pub fn with_prefix<I, S>(prefix: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ToolRunner {
            prefix: prefix.into_iter().map(Into::into).collect(),
        }
    }

    /// Runs `program args`, feeding `stdin` if given; returns stdout, or the tool's failure.
    pub fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, NetfilterError> {
        let (exe, rest) = match self.prefix.split_first() {
            Some((first, rest)) => (first.as_str(), rest),
            None => (program, &[][..]),
        };
        let mut command = Command::new(exe);
        if !self.prefix.is_empty() {
            command.args(rest).arg(program);
        }
        command
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        debug!(program, args = %args.join(" "), with_input = stdin.is_some(), "running netfilter tool");
        let spawn_error = |source| NetfilterError::Spawn {
            program: program.to_owned(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).map_err(spawn_error)?;
        }
        let output = child.wait_with_output().map_err(spawn_error)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(NetfilterError::Tool {
                program: program.to_owned(),
                args: args.join(" "),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }
}
