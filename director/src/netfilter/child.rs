//! A child process with a deadline: its pipes are served by threads (so a large stdin cannot
//! deadlock against a full stdout), and when the deadline passes its whole process group is
//! killed and reaped.
//!
//! Why a process group: a tool started through a wrapper (`ip netns exec`, a shell script) may
//! leave descendants that hold the output pipes open; killing only the direct child would leave
//! them running and the reader threads waiting.

// I/O room (see clippy.toml): a running child process and its deadline.
#![allow(clippy::disallowed_methods)]

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// After the child ended, how long its pipes may stay open (held by a descendant that left the
/// process group) before their threads are abandoned.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// Longest sleep between two checks of the child (the first checks are 1 ms apart, so a quick
/// tool costs no noticeable latency).
const MAX_POLL: Duration = Duration::from_millis(50);

/// What the child printed, and whether its input was delivered.
pub(super) struct Finished {
    /// Exit status.
    pub(super) status: ExitStatus,
    /// Standard output (`None`: the pipe was still held open after [`PIPE_GRACE`]).
    pub(super) stdout: Option<Vec<u8>>,
    /// Standard error (empty when it could not be read in time).
    pub(super) stderr: Vec<u8>,
    /// The error writing stdin, if any (e.g. EPIPE: the tool exited without reading it all).
    pub(super) stdin_error: Option<io::Error>,
}

/// The child did not end before the deadline; it and its process group were killed.
#[derive(Debug)]
pub(super) struct TimedOut;

/// Serves the pipes of `child` (spawned with `process_group(0)` and piped stderr; stdout piped,
/// or into `output_file`, which is read from its start once the child has exited), feeds it
/// `input`, and waits until `timeout` has passed.
pub(super) fn run_with_deadline(
    mut child: Child,
    input: Option<Vec<u8>>,
    output_file: Option<File>,
    timeout: Duration,
) -> io::Result<Result<Finished, TimedOut>> {
    let deadline = Instant::now() + timeout;
    let writer = match (input, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => Some(in_thread(move || {
            // Dropping the pipe afterwards closes it: the tool sees end of input.
            pipe.write_all(&bytes)
        })),
        _ => None,
    };
    let stdout = child.stdout.take().map(read_in_thread);
    let stderr = child.stderr.take().map(read_in_thread);
    let status = match wait_until(&mut child, deadline) {
        Ok(Some(status)) => status,
        Ok(None) => {
            kill_group(&mut child);
            return Ok(Err(TimedOut));
        }
        Err(error) => {
            kill_group(&mut child);
            return Err(error);
        }
    };
    let take = |rx: Option<Receiver<io::Result<Vec<u8>>>>| {
        rx.and_then(|rx| rx.recv_timeout(PIPE_GRACE).ok())
            .and_then(Result::ok)
    };
    let stdout = match output_file {
        Some(mut file) => {
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(0))?;
            file.read_to_end(&mut bytes)?;
            Some(bytes)
        }
        None => take(stdout),
    };
    Ok(Ok(Finished {
        status,
        stdout,
        stderr: take(stderr).unwrap_or_default(),
        stdin_error: writer
            .and_then(|rx| rx.recv_timeout(PIPE_GRACE).ok())
            .and_then(Result::err),
    }))
}

/// Runs `work` on its own thread; its result arrives on the returned channel.
fn in_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    thread::spawn(move || {
        // The receiver may be gone (the run timed out): nothing left to tell.
        let _ = tx.send(work());
    });
    rx
}

fn read_in_thread(mut pipe: impl Read + Send + 'static) -> Receiver<io::Result<Vec<u8>>> {
    in_thread(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).map(|_| bytes)
    })
}

/// The child's status once it exits, or `None` at the deadline.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// SIGKILL to the child's process group (the child leads it), then reaps the child. The child
/// has not been reaped yet, so its pid (= the group id) cannot have been reused.
fn kill_group(child: &mut Child) {
    let group = i32::try_from(child.id()).ok().map(Pid::from_raw);
    let killed = group.is_some_and(|pid| killpg(pid, Signal::SIGKILL).is_ok());
    if !killed {
        // Not a group leader after all: at least the child itself.
        let _ = child.kill();
    }
    if let Err(error) = child.wait() {
        tracing::warn!(%error, pid = child.id(), "cannot reap a killed tool");
    }
}
