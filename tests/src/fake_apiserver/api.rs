//! The Kubernetes-facing HTTP side: `/version`, list, get, watch, create/replace/patch/delete.
//!
//! Lists carry the store's resourceVersion; watches replay the history after the requested
//! resourceVersion, then stream live changes as JSON lines (`ADDED`/`MODIFIED`/`DELETED`, and
//! `BOOKMARK` when `allowWatchBookmarks`), end after `timeoutSeconds`, and answer a
//! resourceVersion older than the compaction point with an `ERROR` event carrying a 410 Status,
//! as a real API server does. Selectors filter lists and watches. Lists are paged as `limit`
//! asks, with a `continue` token (`RV:OFFSET`): the pages after the first carry the first
//! page's resourceVersion but are cut from the current objects, not a snapshot, so a change
//! between pages can be seen early or missed by the list (the watch from that resourceVersion
//! replays it either way). Not modelled: an object leaving a selector on update (no synthetic
//! DELETED), server-side apply, admission, RBAC.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::Shared;
use super::store::{Change, Filter, Resource};

/// Response body of every route.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A Kubernetes `Status` failure.
pub(crate) fn status_error(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    json_response(code, &status_object(code.as_u16(), reason, message))
}

fn status_object(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// Decodes `%XX` and `+` in a query component.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query string as a map.
pub(crate) fn query(req: &Request<Incoming>) -> BTreeMap<String, String> {
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// What a path addresses.
struct Addressed {
    resource: Resource,
    namespace: Option<String>,
    name: Option<String>,
}

fn parse_path(path: &str) -> Option<Addressed> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match parts.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        _ => (None, rest),
    };
    match rest {
        [plural] => Some(Addressed {
            resource: Resource::from_plural(plural)?,
            namespace,
            name: None,
        }),
        [plural, name] => Some(Addressed {
            resource: Resource::from_plural(plural)?,
            namespace,
            name: Some((*name).to_owned()),
        }),
        _ => None,
    }
}

/// Serves one API request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/version" {
        return json_response(
            StatusCode::OK,
            &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake",
                    "platform": "linux/amd64"}),
        );
    }
    let Some(addressed) = parse_path(&path) else {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no route {path}"),
        );
    };
    let q = query(&req);
    let method = req.method().clone();
    match (method, &addressed.name) {
        (Method::GET, None) if is_true(q.get("watch")) => watch(shared, &addressed, &q),
        (Method::GET, None) => list(&shared, &addressed, &q),
        (Method::GET, Some(name)) => {
            let store = shared.lock();
            match store.get(
                addressed.resource,
                addressed.namespace.as_deref().unwrap_or(""),
                name,
            ) {
                Some(obj) => json_response(StatusCode::OK, obj),
                None => not_found(&addressed, name),
            }
        }
        (Method::POST, None) | (Method::PUT, Some(_)) | (Method::PATCH, Some(_)) => {
            let Ok(body) = req.into_body().collect().await else {
                return status_error(StatusCode::BAD_REQUEST, "BadRequest", "unreadable body");
            };
            let Ok(mut obj) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
                return status_error(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON");
            };
            if let (Some(ns), Some(meta)) = (
                &addressed.namespace,
                obj.get_mut("metadata").and_then(Value::as_object_mut),
            ) {
                meta.entry("namespace").or_insert_with(|| json!(ns));
            }
            if let Some(name) = &addressed.name {
                let existing = shared
                    .lock()
                    .get(
                        addressed.resource,
                        addressed.namespace.as_deref().unwrap_or(""),
                        name,
                    )
                    .cloned();
                match existing {
                    Some(mut base) => {
                        merge_patch(&mut base, &obj);
                        obj = base;
                    }
                    None => return not_found(&addressed, name),
                }
            }
            let created = addressed.name.is_none();
            let change = shared.apply(addressed.resource, obj);
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            json_response(code, &change.object)
        }
        (Method::DELETE, Some(name)) => {
            let ns = addressed.namespace.clone().unwrap_or_default();
            match shared.delete(addressed.resource, &ns, name) {
                Some(change) => json_response(StatusCode::OK, &change.object),
                None => not_found(&addressed, name),
            }
        }
        _ => status_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "method not supported here",
        ),
    }
}

fn not_found(addressed: &Addressed, name: &str) -> Response<Body> {
    status_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{} \"{name}\" not found", addressed.resource.plural()),
    )
}

fn is_true(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "1" || v == "true")
}

fn filter(q: &BTreeMap<String, String>) -> Filter {
    Filter::parse(
        q.get("labelSelector").map(String::as_str),
        q.get("fieldSelector").map(String::as_str),
    )
}

fn list(shared: &Shared, addressed: &Addressed, q: &BTreeMap<String, String>) -> Response<Body> {
    let store = shared.lock();
    let items = store.list(
        addressed.resource,
        addressed.namespace.as_deref(),
        &filter(q),
    );
    let (list_rv, start) = match q.get("continue").filter(|t| !t.is_empty()) {
        None => (store.resource_version(), 0),
        Some(token) => match parse_continue(token) {
            Some(position) => position,
            None => {
                return status_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!("invalid continue token {token:?}"),
                );
            }
        },
    };
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let total = items.len();
    let end = limit.map_or(total, |l| start.saturating_add(l).min(total));
    let page: Vec<&Value> = items
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    let mut metadata = json!({"resourceVersion": list_rv.to_string()});
    if end < total {
        metadata["continue"] = json!(format!("{list_rv}:{end}"));
        metadata["remainingItemCount"] = json!(total - end);
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", addressed.resource.kind()),
            "apiVersion": addressed.resource.api_version(),
            "metadata": metadata,
            "items": page,
        }),
    )
}

/// `RV:OFFSET` of a continue token.
fn parse_continue(token: &str) -> Option<(u64, usize)> {
    let (rv, offset) = token.split_once(':')?;
    Some((rv.parse().ok()?, offset.parse().ok()?))
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
}

fn watch(
    shared: Arc<Shared>,
    addressed: &Addressed,
    q: &BTreeMap<String, String>,
) -> Response<Body> {
    let filter = filter(q);
    let resource = addressed.resource;
    let namespace = addressed.namespace.clone();
    let bookmarks = is_true(q.get("allowWatchBookmarks"));
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs);
    let from: Option<u64> = q
        .get("resourceVersion")
        .filter(|rv| !rv.is_empty() && *rv != "0")
        .and_then(|rv| rv.parse().ok());
    let selected = move |c: &Change| {
        c.resource == resource
            && namespace
                .as_deref()
                .is_none_or(|ns| super::store::ns_name(&c.object).0 == ns)
            && filter.matches(&c.object)
    };
    // Subscribe before reading the history, so nothing falls between replay and live.
    let mut live = shared.changes.subscribe();
    let mut generation = shared.watch_generation.subscribe();
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let replay: Result<(u64, Vec<Bytes>), ()> = {
        let store = shared.lock();
        match from {
            Some(rv) => store.changes_since(rv).map(|changes| {
                let lines = changes
                    .iter()
                    .filter(|c| selected(c))
                    .map(|c| event_line(c.kind.as_str(), &c.object))
                    .collect();
                (store.resource_version(), lines)
            }),
            None => {
                let all = Filter::default();
                let lines = store
                    .list(resource, None, &all)
                    .into_iter()
                    .filter(|o| {
                        selected(&Change {
                            rv: 0,
                            resource,
                            kind: super::store::EventType::Added,
                            object: (*o).clone(),
                        })
                    })
                    .map(|o| event_line("ADDED", o))
                    .collect();
                Ok((store.resource_version(), lines))
            }
        }
    };
    let bookmark_every = shared.bookmark_interval;
    tokio::spawn(async move {
        let (mut last, lines) = match replay {
            Ok(r) => r,
            Err(()) => {
                let status = status_object(410, "Expired", "too old resource version");
                let _ = tx.send(event_line("ERROR", &status)).await;
                return;
            }
        };
        for line in lines {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(bookmark_every);
        tick.tick().await;
        loop {
            let line = tokio::select! {
                () = &mut deadline => return,
                _ = generation.changed() => return,
                _ = tick.tick(), if bookmarks => {
                    // Only what this watch has seen: the store may already hold a change that
                    // is still on its way here, and a client resumes from the bookmark.
                    event_line("BOOKMARK", &json!({
                        "kind": resource.kind(), "apiVersion": resource.api_version(),
                        "metadata": {"resourceVersion": last.to_string()}
                    }))
                }
                change = live.recv() => match change {
                    Ok(c) if c.rv > last => {
                        last = c.rv;
                        if !selected(&c) { continue; }
                        event_line(c.kind.as_str(), &c.object)
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let status = status_object(410, "Expired", "watch fell behind");
                        let _ = tx.send(event_line("ERROR", &status)).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(Frame::data(bytes)), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// JSON merge patch (RFC 7386): objects merge, null deletes, anything else replaces.
pub(crate) fn merge_patch(base: &mut Value, patch: &Value) {
    match (base.as_object_mut(), patch.as_object()) {
        (Some(b), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge_patch(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *base = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_decoding() {
        let t = parse_path("/api/v1/namespaces/kube-system/configmaps").unwrap();
        assert_eq!(t.resource, Resource::ConfigMaps);
        assert_eq!(t.namespace.as_deref(), Some("kube-system"));
        let t = parse_path("/apis/discovery.k8s.io/v1/endpointslices").unwrap();
        assert_eq!((t.resource, t.namespace), (Resource::EndpointSlices, None));
        let t = parse_path("/api/v1/namespaces/a/services/web").unwrap();
        assert_eq!(t.name.as_deref(), Some("web"));
        assert!(parse_path("/api/v1/pods").is_none());
        assert_eq!(
            percent_decode("kubernetes.io%2Fservice-name"),
            "kubernetes.io/service-name"
        );
        assert_eq!(percent_decode("metadata.name%3Dx"), "metadata.name=x");
    }

    #[test]
    fn merge_patch_merges_and_deletes() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge_patch(&mut base, &json!({"a": {"b": null, "e": 4}, "d": 5}));
        assert_eq!(base, json!({"a": {"c": 2, "e": 4}, "d": 5}));
    }
}
