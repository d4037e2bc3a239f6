//! One timed HTTP GET, as a scraper makes it, with the body counted and discarded: the lab
//! bench's `/metrics` client (`tests/lab/scenarios/bench-apply.sh`, bench/README.md).
//!
//! Why not busybox `nc | wc -c`: in the emulated VM the client shares the one vCPU with the
//! daemon, and nc's small reads plus the pipe into wc cost seconds of a 150 MB body. This
//! client reads 256 KiB at a time and keeps nothing, so the time is the server's.
//!
//! Usage: `http-scrape ADDR PATH [--gzip]`. `--gzip` sends `Accept-Encoding: gzip`, as
//! Prometheus does. Prints `scrape_ms=<ms> bytes=<body bytes> encoding=<gzip|identity>`;
//! exits non-zero unless the answer is `200`. Every read has a 300 s timeout.

// An I/O room as a whole (see clippy.toml): it holds a socket and reads the clock.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The longest a single read may wait (the whole scrape is bounded by the server's end).
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// The most header bytes accepted before the body starts.
const MAX_HEAD: usize = 64 * 1024;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, path, gzip) = match args.as_slice() {
        [addr, path] => (addr, path, false),
        [addr, path, flag] if flag == "--gzip" => (addr, path, true),
        _ => bail!("usage: http-scrape ADDR PATH [--gzip]"),
    };
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("ADDR {addr:?} is not an address:port"))?;
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        bail!("PATH {path:?} must start with / and hold no spaces");
    }
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let accept = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/plain\r\n{accept}\r\n"
    )
    .context("sending the request")?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let mut body_bytes = 0u64;
    let mut in_body = false;
    loop {
        let n = stream.read(&mut buf).context("reading the answer")?;
        if n == 0 {
            break;
        }
        if in_body {
            body_bytes += n as u64;
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            body_bytes = (head.len() - end - 4) as u64;
            head.truncate(end);
            in_body = true;
        } else if head.len() > MAX_HEAD {
            bail!("no end of the header in the first {MAX_HEAD} bytes");
        }
    }
    let elapsed = started.elapsed();
    if !in_body {
        bail!("the connection closed before the header ended");
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("the answer is {status:?}, not 200");
    }
    let encoding = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-encoding"))
        .map_or("identity", |(_, value)| value.trim());
    println!(
        "scrape_ms={} bytes={body_bytes} encoding={encoding}",
        elapsed.as_millis()
    );
    Ok(())
}
