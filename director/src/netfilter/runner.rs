//! Runs the netfilter tools (`iptables-restore`, `nft`, ...) as child processes.
//!
//! Contract: this is the only place that spawns processes for the netfilter layer. A runner may
//! carry a command prefix (`ip netns exec NAME`) so that tests can drive a throwaway network
//! namespace with exactly the code production runs; production uses no prefix.
//!
//! Every run has a deadline ([`DEFAULT_TOOL_TIMEOUT`] unless set with
//! [`ToolRunner::with_timeout`]): a tool that hangs (an xtables lock held elsewhere, a stuck
//! kernel) is killed and reported, instead of holding the daemon's kernel slot for ever.

// I/O room (see clippy.toml): spawns the netfilter tools and waits on their locks.
#![allow(clippy::disallowed_methods)]

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use tracing::{debug, warn};

use super::child::run_with_deadline;
use super::error::NetfilterError;

/// How long one tool run may take. Generous: `iptables-restore` of a large rule set takes
/// well under a second; this catches hangs, not slowness.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Spawns netfilter tools, optionally through a prefix such as `ip netns exec NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRunner {
    prefix: Vec<String>,
    timeout: Duration,
}

impl Default for ToolRunner {
    fn default() -> Self {
        ToolRunner {
            prefix: Vec::new(),
            timeout: DEFAULT_TOOL_TIMEOUT,
        }
    }
}

impl ToolRunner {
    /// Runs tools directly (production).
    pub fn direct() -> Self {
        ToolRunner::default()
    }

    /// The same runner with another deadline per run.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline of one run.
    pub fn timeout(&self) -> Duration {
        self.timeout
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
            ..ToolRunner::default()
        }
    }

    /// Runs `program args`, feeding `stdin` if given; returns stdout, or the tool's failure.
    /// A run that outlasts the timeout is killed (with its process group) and is
    /// [`NetfilterError::Timeout`].
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
        let spawn_error = |cause| NetfilterError::Spawn {
            program: program.to_owned(),
            cause,
        };
        // The output goes to an unnamed temporary file when one can be made: a tool writing
        // a large listing (`nft list` of a table with 10,000 set elements) into a pipe is
        // several times slower than into a file (many small writes, each waiting for the
        // reader on a busy CPU). A pipe otherwise. (The pipe also tells when a process the tool
        // started still holds its output after it exited; the file cannot, and is read once the
        // tool has exited. nft and iptables-restore start no such process.)
        let output_file = tempfile::tempfile()
            .inspect_err(|error| debug!(%error, "no temporary file for the tool's output: a pipe"))
            .ok();
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
            .stdout(match &output_file {
                Some(file) => Stdio::from(file.try_clone().map_err(spawn_error)?),
                None => Stdio::piped(),
            })
            .stderr(Stdio::piped())
            // Its own process group, so that a timeout kills whatever it started too.
            .process_group(0);
        debug!(program, args = %args.join(" "), with_input = stdin.is_some(), "running netfilter tool");
        let started = std::time::Instant::now();
        let child = command.spawn().map_err(spawn_error)?;
        let input = stdin.map(|text| text.as_bytes().to_vec());
        let finished = match run_with_deadline(child, input, output_file, self.timeout)
            .map_err(spawn_error)?
        {
            Ok(finished) => finished,
            Err(_) => {
                warn!(
                    program,
                    args = %args.join(" "),
                    timeout = ?self.timeout,
                    reason = "timeout",
                    "netfilter tool hung: killed"
                );
                return Err(NetfilterError::Timeout {
                    program: program.to_owned(),
                    args: args.join(" "),
                    after: self.timeout,
                });
            }
        };
        debug!(
            program,
            elapsed_ms = started.elapsed().as_millis(),
            stdout_bytes = finished.stdout.as_ref().map_or(0, Vec::len),
            "netfilter tool finished"
        );
        if !finished.status.success() {
            return Err(NetfilterError::Tool {
                program: program.to_owned(),
                args: args.join(" "),
                status: finished.status.to_string(),
                stderr: String::from_utf8_lossy(&finished.stderr).trim().to_owned(),
            });
        }
        // It succeeded without taking all its input, or its output never closed: do not trust
        // the result.
        if let Some(error) = finished.stdin_error {
            return Err(spawn_error(error));
        }
        match finished.stdout {
            Some(stdout) => Ok(String::from_utf8_lossy(&stdout).into_owned()),
            None => Err(spawn_error(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "its output stayed open after it exited (held by a process it started)",
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn sh(
        runner: &ToolRunner,
        script: &str,
        stdin: Option<&str>,
    ) -> Result<String, NetfilterError> {
        runner.run("sh", &["-c", script], stdin)
    }

    /// Whether `pid` is gone (or a zombie nobody reaped yet: it runs no more).
    fn is_gone(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    /// A tool that hangs is killed at the deadline, with the process it started, and the error
    /// names it and the timeout. Fails without the deadline (the test waits 60 s and the
    /// error is not a timeout) or without the process-group kill (the `sleep` survives).
    #[test]
    fn a_hung_tool_is_killed_at_the_deadline_with_its_children() {
        let dir = std::env::temp_dir().join(format!("lb-runner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pids = dir.join("pids");
        let runner = ToolRunner::direct().with_timeout(Duration::from_millis(500));
        let started = Instant::now();
        let script = format!(
            "echo $$ > {0}; sleep 60 & echo $! >> {0}; wait",
            pids.display()
        );
        let error = sh(&runner, &script, None).unwrap_err();
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(10), "{waited:?}");
        assert!(matches!(error, NetfilterError::Timeout { .. }), "{error:?}");
        assert!(error.is_timeout());
        let text = error.to_string();
        assert!(text.contains("sh") && text.contains("500ms"), "{text}");
        let pids = std::fs::read_to_string(&pids).unwrap();
        let pids: Vec<&str> = pids.lines().collect();
        assert_eq!(pids.len(), 2, "{pids:?}");
        // The kill is asynchronous for the grandchild: give the kernel a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !pids.iter().all(|p| is_gone(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in &pids {
            assert!(is_gone(pid), "process {pid} still runs");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A tool that prints a lot before it reads its (large) input does not deadlock: stdin is
    /// written while stdout is read. Fails with the old write-then-read order (the run hangs
    /// until the deadline and is a timeout).
    #[test]
    fn large_input_and_output_do_not_deadlock() {
        let runner = ToolRunner::direct().with_timeout(Duration::from_secs(20));
        let input = "x".repeat(1 << 20);
        let out = sh(
            &runner,
            "head -c 1048576 /dev/zero | tr '\\0' y; wc -c",
            Some(&input),
        )
        .unwrap();
        assert!(out.starts_with(&"y".repeat(1 << 20)), "{}", out.len());
        assert_eq!(out[1 << 20..].trim(), (1 << 20).to_string());
    }

    /// A tool that fails without reading its input is reported by its status and stderr, not
    /// as a broken pipe.
    #[test]
    fn a_failing_tool_reports_its_status_not_the_broken_pipe() {
        let runner = ToolRunner::direct();
        let error = sh(
            &runner,
            "echo refused >&2; exit 3",
            Some(&"x".repeat(1 << 20)),
        )
        .unwrap_err();
        match error {
            NetfilterError::Tool { status, stderr, .. } => {
                assert!(status.contains('3'), "{status}");
                assert_eq!(stderr, "refused");
            }
            other => panic!("expected a tool failure, got {other:?}"),
        }
        assert_eq!(sh(&runner, "echo ok", None).unwrap(), "ok\n");
    }
}
