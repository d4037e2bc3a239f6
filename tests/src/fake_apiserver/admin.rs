//! The test-facing HTTP side (a separate port, so it stays up while the API is "down").
//!
//! | request | effect |
//! |---|---|
//! | `PUT /objects` (an object with `kind`) | create or replace it |
//! | `DELETE /objects/PLURAL/NAMESPACE/NAME` | delete it |
//! | `GET /objects/PLURAL` | every object of a collection (e.g. the controller's `events`) |
//! | `POST /down`, `POST /up` | stop / resume the API port (connections are cut) |
//! | `POST /compact` | forget the history: resumed watches get 410 Gone and must relist |
//! | `POST /drop-watches` | end every open watch cleanly (clients resume from their version) |
//! | `GET /healthz` | `ok` |

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::Shared;
use super::api::{Body, json_response, status_error};
use super::store::{Filter, Resource};

/// Serves one admin request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().trim_matches('/').to_owned();
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method().clone(), parts.as_slice()) {
        (Method::GET, ["healthz"]) => json_response(StatusCode::OK, &json!("ok")),
        (Method::PUT | Method::POST, ["objects"]) => {
            let Ok(body) = req.into_body().collect().await else {
                return status_error(StatusCode::BAD_REQUEST, "BadRequest", "unreadable body");
            };
            let Ok(obj) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
                return status_error(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON");
            };
            let Some(resource) = obj
                .get("kind")
                .and_then(Value::as_str)
                .and_then(Resource::from_kind)
            else {
                return status_error(StatusCode::BAD_REQUEST, "BadRequest", "unknown kind");
            };
            let change = shared.apply(resource, obj);
            json_response(StatusCode::OK, &change.object)
        }
        (Method::DELETE, ["objects", plural, ns, name]) => {
            match Resource::from_plural(plural).and_then(|r| shared.delete(r, ns, name)) {
                Some(change) => json_response(StatusCode::OK, &change.object),
                None => status_error(StatusCode::NOT_FOUND, "NotFound", "no such object"),
            }
        }
        (Method::GET, ["objects", plural]) => match Resource::from_plural(plural) {
            Some(r) => json_response(
                StatusCode::OK,
                &Value::Array(
                    shared
                        .lock()
                        .list(r, None, &Filter::default())
                        .into_iter()
                        .cloned()
                        .collect(),
                ),
            ),
            None => status_error(StatusCode::NOT_FOUND, "NotFound", "unknown collection"),
        },
        (Method::POST, ["down"]) => {
            shared.set_up(false);
            json_response(StatusCode::OK, &json!("down"))
        }
        (Method::POST, ["up"]) => {
            shared.set_up(true);
            json_response(StatusCode::OK, &json!("up"))
        }
        (Method::POST, ["compact"]) => {
            shared.compact();
            json_response(StatusCode::OK, &json!("compacted"))
        }
        (Method::POST, ["drop-watches"]) => {
            shared.drop_watches();
            json_response(StatusCode::OK, &json!("dropped"))
        }
        _ => status_error(StatusCode::NOT_FOUND, "NotFound", "unknown admin route"),
    }
}
