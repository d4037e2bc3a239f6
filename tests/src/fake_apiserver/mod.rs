//! A fake Kubernetes API server for tests: real HTTP, the real list/watch protocol, in memory.
//!
//! Enough of the protocol for kube-rs watchers and event recorders: lists with a
//! resourceVersion, watches that replay from a resourceVersion and stream JSON lines
//! (ADDED/MODIFIED/DELETED/BOOKMARK), 410 Gone after compaction, watch timeouts, label and
//! field selectors, create/replace/merge-patch/delete, `/version`. An admin port (see
//! [`admin`]) lets tests change objects, take the API port down and up (cutting every
//! connection), compact the history and drop watches. Honest limits are listed in [`api`].
//! It serves ConfigMaps, Services, EndpointSlices and events.k8s.io Events only.

pub mod admin;
pub mod api;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{broadcast, watch};
use tracing::{debug, info, warn};

use self::store::{Change, Resource, Store};

/// State shared by both ports.
pub struct Shared {
    store: Mutex<Store>,
    changes: broadcast::Sender<Change>,
    up: watch::Sender<bool>,
    watch_generation: watch::Sender<u64>,
    bookmark_interval: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates or replaces an object and notifies the watches.
    pub fn apply(&self, resource: Resource, object: Value) -> Change {
        let change = self.lock().upsert(resource, object);
        let _ = self.changes.send(change.clone());
        change
    }

    /// Deletes an object and notifies the watches.
    pub fn delete(&self, resource: Resource, ns: &str, name: &str) -> Option<Change> {
        let change = self.lock().delete(resource, ns, name)?;
        let _ = self.changes.send(change.clone());
        Some(change)
    }

    /// Takes the API port down (`false`) or brings it back (`true`).
    pub fn set_up(&self, up: bool) {
        info!(up, "fake API server availability");
        self.up.send_replace(up);
    }

    /// Compacts the history (resumed watches get 410 Gone).
    pub fn compact(&self) {
        self.lock().compact();
    }

    /// Ends every open watch.
    pub fn drop_watches(&self) {
        self.watch_generation.send_modify(|g| *g += 1);
    }
}

/// A running fake API server.
pub struct FakeApiServer {
    /// The API address (what the kubeconfig points at).
    pub api_addr: SocketAddr,
    /// The admin address.
    pub admin_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeApiServer {
    /// Starts both ports on the current tokio runtime (port 0 picks free ports).
    pub async fn start(api: SocketAddr, admin: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(api, admin, Duration::from_secs(1)).await
    }

    /// Like [`FakeApiServer::start`], with the bookmark interval of watches.
    pub async fn start_with(
        api: SocketAddr,
        admin: SocketAddr,
        bookmark_interval: Duration,
    ) -> std::io::Result<Self> {
        let (changes, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            changes,
            up: watch::channel(true).0,
            watch_generation: watch::channel(0).0,
            bookmark_interval,
        });
        let api_listener = listen(api)?;
        let api_addr = api_listener.local_addr()?;
        let admin_listener = listen(admin)?;
        let admin_addr = admin_listener.local_addr()?;
        tokio::spawn(serve_api(Arc::clone(&shared), api_listener, api_addr));
        tokio::spawn(serve_admin(Arc::clone(&shared), admin_listener));
        info!(%api_addr, %admin_addr, "fake API server started");
        Ok(FakeApiServer {
            api_addr,
            admin_addr,
            shared,
        })
    }

    /// The shared state (object changes, availability).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Creates or replaces an object (its `kind` picks the collection).
    pub fn apply(&self, object: Value) -> Option<Change> {
        let resource = object
            .get("kind")
            .and_then(Value::as_str)
            .and_then(Resource::from_kind)?;
        Some(self.shared.apply(resource, object))
    }

    /// Every object of a collection.
    pub fn objects(&self, resource: Resource) -> Vec<Value> {
        self.shared
            .lock()
            .list(resource, None, &store::Filter::default())
            .into_iter()
            .cloned()
            .collect()
    }

    /// A kubeconfig that points a client at this server over plain HTTP.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.api_addr
        )
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn serve_api(shared: Arc<Shared>, first: TcpListener, addr: SocketAddr) {
    let mut up = shared.up.subscribe();
    let mut listener = Some(first);
    loop {
        let Some(active) = listener.take() else {
            // Down: wait until up, then listen again on the same address.
            if up.wait_for(|u| *u).await.is_err() {
                return;
            }
            match listen(addr) {
                Ok(l) => listener = Some(l),
                Err(e) => {
                    warn!(error = %e, "cannot listen again; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            continue;
        };
        loop {
            tokio::select! {
                down = up.wait_for(|u| !*u) => {
                    if down.is_err() { return; }
                    break; // drops the listener: connection refused while down
                }
                accepted = active.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let shared = Arc::clone(&shared);
                    let mut conn_up = shared.up.subscribe();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| {
                            let shared = Arc::clone(&shared);
                            async move { Ok::<_, std::convert::Infallible>(api::handle(shared, req).await) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service);
                        tokio::select! {
                            r = conn => if let Err(e) = r { debug!(%peer, error = %e, "API connection error"); },
                            _ = conn_up.wait_for(|u| !*u) => debug!(%peer, "cut by /down"),
                        }
                    });
                }
            }
        }
        listener = None;
    }
}

async fn serve_admin(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, std::convert::Infallible>(admin::handle(shared, req).await) }
            });
            // Shell clients (busybox nc in the lab VM) shut down their write side after the
            // request; without half_close hyper would drop a request still being served.
            let _ = hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn admin_serves_a_request_whose_client_half_closed() {
        let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = FakeApiServer::start(any, any).await.unwrap();
        let body =
            r#"{"kind":"ConfigMap","metadata":{"name":"cm","namespace":"ns"},"data":{"k":"v"}}"#;
        for attempt in 0..20 {
            let mut conn = tokio::net::TcpStream::connect(server.admin_addr)
                .await
                .unwrap();
            let head = format!(
                "PUT /objects HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes()).await.unwrap();
            // The body in a later segment, directly followed by the FIN, as `nc` sends them
            // when its input ends: the server sees the EOF while the request is in flight.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            conn.write_all(body.as_bytes()).await.unwrap();
            conn.shutdown().await.unwrap();
            let mut response = String::new();
            conn.read_to_string(&mut response).await.unwrap();
            assert!(
                response.starts_with("HTTP/1.0 200"),
                "attempt {attempt}: {response:?}"
            );
        }
        assert_eq!(server.objects(Resource::ConfigMaps).len(), 1);
    }

    /// A bookmark must never claim a version the watch has not delivered yet: a client
    /// resumes from it, so a change it skipped would be lost for good.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bookmarks_never_overtake_undelivered_changes() {
        let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = FakeApiServer::start_with(any, any, Duration::from_millis(1))
            .await
            .unwrap();
        let mut conn = tokio::net::TcpStream::connect(server.api_addr)
            .await
            .unwrap();
        conn.write_all(
            b"GET /api/v1/namespaces/ns/configmaps?watch=1&allowWatchBookmarks=true\
              &resourceVersion=0&timeoutSeconds=2 HTTP/1.0\r\n\r\n",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        const CHANGES: usize = 300;
        for i in 0..CHANGES {
            server.apply(serde_json::json!({"kind": "ConfigMap",
                "metadata": {"name": format!("cm{i}"), "namespace": "ns"}}));
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let mut stream = String::new();
        conn.read_to_string(&mut stream).await.unwrap();
        let added = stream.matches(r#""type":"ADDED""#).count();
        assert_eq!(added, CHANGES, "changes lost behind bookmarks");
    }

    /// One HTTP/1.0 GET on the API port; the body as JSON.
    async fn get_json(addr: SocketAddr, path: &str) -> (String, serde_json::Value) {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.lines().next().unwrap().to_owned();
        (status, serde_json::from_str(body).unwrap())
    }

    /// Fails if a page is longer than `limit`, an object is lost or repeated across the pages,
    /// a continued page has another resourceVersion, or a bad token is not refused. (Without
    /// `limit` one page holds everything: the control.)
    #[tokio::test]
    async fn lists_are_paged_by_limit_and_continue() {
        let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = FakeApiServer::start(any, any).await.unwrap();
        for i in 0..7 {
            server.apply(serde_json::json!({"kind": "ConfigMap",
                "metadata": {"name": format!("cm{i}"), "namespace": "ns"}}));
        }
        let base = "/api/v1/namespaces/ns/configmaps";
        let (_, whole) = get_json(server.api_addr, base).await;
        assert_eq!(whole["items"].as_array().unwrap().len(), 7);
        assert!(whole["metadata"].get("continue").is_none());
        let mut names = Vec::new();
        let mut token = String::new();
        let mut rv = None;
        loop {
            let path = format!("{base}?limit=3&continue={token}");
            let (status, page) = get_json(server.api_addr, &path).await;
            assert!(status.contains(" 200"), "{status}");
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            names.extend(
                items
                    .iter()
                    .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned()),
            );
            let page_rv = page["metadata"]["resourceVersion"].clone();
            assert_eq!(rv.get_or_insert(page_rv.clone()), &page_rv);
            match page["metadata"]["continue"].as_str() {
                Some(next) => token = next.to_owned(),
                None => break,
            }
        }
        let mut expected: Vec<String> = (0..7).map(|i| format!("cm{i}")).collect();
        expected.sort();
        assert_eq!(names, expected);
        let (status, _) = get_json(
            server.api_addr,
            &format!("{base}?limit=3&continue=nonsense"),
        )
        .await;
        assert!(status.contains(" 400"), "{status}");
    }
}
