//! `POST /drain` over real HTTP on loopback: whole and per-VIP drains, a bad address, the
//! undo that ends every drain, and the drain file that follows.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use super::{HttpState, bind};
use crate::bgp::BgpControl;
use crate::commands::status::http_request;
use crate::daemon::status::StatusSnapshot;
use crate::metrics::Metrics;

async fn request(
    address: SocketAddr,
    method: &'static str,
    path: &'static str,
) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || http_request(address, method, path))
        .await
        .unwrap()
}

#[tokio::test]
async fn drain_switches_all_or_one_vip_and_keeps_the_file_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bgp-drained");
    let control = Arc::new(BgpControl::new("speaker", file.clone()));
    let (_status_tx, status) = watch::channel(Arc::new(StatusSnapshot::default()));
    let state = HttpState {
        metrics: Arc::new(Metrics::new().unwrap()),
        status,
        dump: Arc::new(|| Box::pin(async { None })),
        bgp: Some(Arc::clone(&control)),
    };
    let (_shutdown_tx, shutdown) = watch::channel(false);
    let (address, serve) = bind("127.0.0.1:0".parse().unwrap(), state, shutdown)
        .await
        .unwrap();
    tokio::spawn(serve);

    let answer = request(address, "POST", "/drain?vip=10.0.0.1")
        .await
        .unwrap();
    assert!(answer.contains("draining 10.0.0.1"), "{answer}");
    assert!(!control.is_draining());
    assert_eq!(control.drain_state().vips.len(), 1);
    assert!(std::fs::read_to_string(&file).unwrap().contains("10.0.0.1"));

    let err = request(address, "POST", "/drain?vip=10.0.0.300")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("400") && err.contains("vip=10.0.0.300: not an IP address"),
        "{err}"
    );
    assert_eq!(
        control.drain_state().vips.len(),
        1,
        "a bad request changes nothing"
    );

    request(address, "POST", "/drain").await.unwrap();
    assert!(control.is_draining());
    let err = request(address, "GET", "/drain")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("405"), "{err}");

    let answer = request(address, "POST", "/drain?undo").await.unwrap();
    assert!(answer.contains("drain ended"), "{answer}");
    assert!(
        control.drain_state().is_empty(),
        "undo without a VIP ends every drain"
    );
    assert!(!file.exists());
}
