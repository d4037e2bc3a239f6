//! The I/O of `flow-traffic`: the echo server and the client's connection tasks. Every wait
//! has a deadline (connect, greeting, echo, the run's end), so a run always ends.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tracing::{debug, info, warn};

use super::options::ClientOptions;
use super::tally::{Loss, Tally, check_echo, greeting, line};

/// Longest line either side reads: a peer cannot make us buffer without bound.
const MAX_LINE: u64 = 4096;

/// Serves greeting + echo on `listen` until the process is killed.
pub async fn serve(listen: SocketAddr, name: String) -> io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("flow-traffic: serving as {name} on {listen}");
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let name = name.clone();
                tokio::spawn(async move {
                    if let Err(e) = echo(stream, &name).await {
                        debug!(%peer, error = %e, "echo connection ended with an error");
                    }
                });
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                warn!(error = %e, "accept failed");
                sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn echo(stream: TcpStream, name: &str) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    w.write_all(format!("{name}\n").as_bytes()).await?;
    let mut r = BufReader::new(r);
    let mut buf = String::new();
    loop {
        buf.clear();
        if read_line(&mut r, &mut buf).await? == 0 {
            return Ok(());
        }
        w.write_all(buf.as_bytes()).await?;
    }
}

async fn read_line(r: &mut BufReader<OwnedReadHalf>, buf: &mut String) -> io::Result<usize> {
    (&mut *r).take(MAX_LINE).read_line(buf).await
}

/// One connection of the client: greeted by `server`.
struct Conn {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    server: String,
}

/// Connects and reads the greeting; the caller bounds it with the connect timeout.
async fn open(target: SocketAddr) -> Result<Conn, Loss> {
    let stream = TcpStream::connect(target)
        .await
        .map_err(|e| Loss::of_error(e.kind()))?;
    stream
        .set_nodelay(true)
        .map_err(|e| Loss::of_error(e.kind()))?;
    let (r, w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut buf = String::new();
    read_line(&mut r, &mut buf)
        .await
        .map_err(|e| Loss::of_error(e.kind()))?;
    let server = greeting(&buf).ok_or(Loss::Closed)?.to_owned();
    Ok(Conn { r, w, server })
}

/// Sends `sent` and reads its echo; the caller bounds it with the line timeout.
async fn exchange(conn: &mut Conn, sent: &str) -> Result<(), Loss> {
    conn.w
        .write_all(format!("{sent}\n").as_bytes())
        .await
        .map_err(|e| Loss::of_error(e.kind()))?;
    let mut buf = String::new();
    read_line(&mut conn.r, &mut buf)
        .await
        .map_err(|e| Loss::of_error(e.kind()))?;
    check_echo(sent, &buf)
}

/// Shared state of the client's tasks.
struct Shared {
    options: ClientOptions,
    start: Instant,
    end: Instant,
    tally: Mutex<Tally>,
    /// Long-lived connections that established or failed to: `ready` is printed at `conns`.
    settled: AtomicU32,
}

impl Shared {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn settle(&self) {
        if self.settled.fetch_add(1, Ordering::SeqCst) + 1 == self.options.conns {
            let t = self.tally();
            println!(
                "flow-traffic ready: established={} failed_to_establish={} after_ms={}",
                t.established,
                t.failed_to_establish,
                self.start.elapsed().as_millis()
            );
        }
    }
}

/// Runs the client for its duration and returns the counts.
pub async fn client(options: ClientOptions) -> Tally {
    let start = Instant::now();
    let shared = Arc::new(Shared {
        end: start + options.duration,
        start,
        options,
        tally: Mutex::new(Tally::default()),
        settled: AtomicU32::new(0),
    });
    let o = &shared.options;
    let mut tasks = JoinSet::new();
    for id in 0..o.conns {
        let at = start + o.ramp.mul_f64(f64::from(id) / f64::from(o.conns));
        tasks.spawn(long_lived(id, at, Arc::clone(&shared)));
    }
    if let Some(every) = o.new_every {
        let mut next = start + every;
        let mut id = o.conns;
        while next < shared.end {
            sleep_until(next).await;
            tasks.spawn(short(id, Arc::clone(&shared)));
            id = id.wrapping_add(1);
            next += every;
        }
    }
    // Every task ends by its own timeouts; this bound only guards against a bug.
    let grace = o.connect_timeout + o.line_timeout + Duration::from_secs(5);
    let all = async { while tasks.join_next().await.is_some() {} };
    if timeout(
        shared.end.saturating_duration_since(Instant::now()) + grace,
        all,
    )
    .await
    .is_err()
    {
        warn!("tasks still running after the run's end plus the timeouts: aborted");
    }
    shared.tally().clone()
}

async fn long_lived(id: u32, at: Instant, shared: Arc<Shared>) {
    let o = &shared.options;
    sleep_until(at).await;
    let mut conn = match timeout(o.connect_timeout, open(o.target)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(why)) => return not_established(id, why.as_str(), &shared),
        Err(_) => return not_established(id, "connect timeout", &shared),
    };
    shared.tally().established(&conn.server);
    shared.settle();
    let mut seq = 0u64;
    let mut next = Instant::now();
    loop {
        next += o.interval;
        if next >= shared.end {
            break;
        }
        sleep_until(next).await;
        seq += 1;
        let sent = line(id, seq);
        let sent_at = Instant::now();
        let outcome = match timeout(o.line_timeout, exchange(&mut conn, &sent)).await {
            Ok(result) => result,
            Err(_) => Err(Loss::Timeout),
        };
        match outcome {
            Ok(()) => {
                let ms = u64::try_from(sent_at.elapsed().as_millis()).unwrap_or(u64::MAX);
                shared.tally().echoed(ms);
            }
            Err(why) => {
                warn!(conn = id, seq, server = %conn.server, reason = why.as_str(),
                    at_ms = %shared.start.elapsed().as_millis(), "established connection lost");
                shared.tally().lose(why);
                return;
            }
        }
        // After a stall, go on at the interval instead of sending a burst.
        next = next.max(Instant::now());
    }
    shared.tally().survived += 1;
    let _ = conn.w.shutdown().await;
}

fn not_established(id: u32, why: &str, shared: &Shared) {
    warn!(
        conn = id,
        reason = why,
        "long-lived connection not established"
    );
    shared.tally().failed_to_establish += 1;
    shared.settle();
}

async fn short(id: u32, shared: Arc<Shared>) {
    let o = &shared.options;
    let outcome = match timeout(o.connect_timeout, open(o.target)).await {
        Err(_) => Err(Loss::Timeout),
        Ok(Err(why)) => Err(why),
        Ok(Ok(mut conn)) => {
            let sent = line(id, 1);
            let result = match timeout(o.line_timeout, exchange(&mut conn, &sent)).await {
                Ok(result) => result,
                Err(_) => Err(Loss::Timeout),
            };
            let _ = conn.w.shutdown().await;
            result
        }
    };
    match outcome {
        Ok(()) => shared.tally().new_ok += 1,
        Err(why) => {
            info!(conn = id, reason = why.as_str(),
                at_ms = %shared.start.elapsed().as_millis(), "new connection failed");
            shared.tally().new_failed += 1;
        }
    }
}
