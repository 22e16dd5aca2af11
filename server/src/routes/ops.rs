//! Operations: metrics, health, the API description, change events, the dashboard.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::{Params, authorize};
use crate::AppState;
use crate::auth::Scope;
use crate::error::ApiError;

/// The API description, kept by hand beside the routes (a test checks they agree).
pub(crate) const OPENAPI: &str = include_str!("../../openapi.json");

pub(crate) async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics().render(),
    )
        .into_response()
}

pub(crate) async fn livez() -> &'static str {
    "ok\n"
}

pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if !state.engine().writer_alive() {
        ApiError::unavailable(
            "writer_stopped",
            "the writer thread is not running; ingest cannot commit (see the log)",
            5,
        )
        .into_response()
    } else if state.is_ready() {
        "ready\n".into_response()
    } else {
        ApiError::unavailable("shutting_down", "the server is draining", 1).into_response()
    }
}

pub(crate) async fn no_such_route(request: Request) -> ApiError {
    ApiError::not_found(
        "no_such_route",
        format!(
            "{} {} is not part of the API; see /openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

/// A route called with a method it does not take (axum adds the `Allow` header).
pub(crate) async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; see /openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

/// `GET /v1/events`: Server-Sent Events, one `changed` event per commit that touched the
/// tenant's keys (`{"keys": [...], "at_ms": ...}`); `lagged` when this client fell behind and
/// should refetch everything.
pub(crate) async fn events(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref(), &[])?;
    let principal = authorize(&state, &headers, &params, Scope::Read)?;
    let tenant = principal.tenant.name.clone();
    let stream = BroadcastStream::new(state.engine().subscribe())
        .filter_map(move |item| match item {
            Ok(changed) if changed.tenant == tenant => Some(
                Event::default()
                    .event("changed")
                    .json_data(&*changed)
                    .unwrap_or_else(|_| Event::default().event("changed")),
            ),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(n)) => Some(
                Event::default()
                    .event("lagged")
                    .data(format!("{{\"missed\":{n}}}")),
            ),
        })
        .map(Some);
    // Ends the stream when shutdown starts, so the graceful drain is not held open by it.
    let closed = WatchStream::new(state.closing())
        .filter(|closing| *closing)
        .map(|_| None);
    let stream = stream
        .merge(closed)
        .take_while(Option::is_some)
        .filter_map(|event| event.map(Ok::<_, Infallible>));
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgesketch</title></head>
<body><main><h1>edgesketch merge server</h1>
<p>The dashboard is not installed here (no <code>www/</code> directory). The API is described at
<a href="/openapi.json">/openapi.json</a>; metrics at <a href="/metrics">/metrics</a>.</p>
</main></body></html>
"#;

/// Everything outside the API: the dashboard's files, or a page saying where the API is.
pub(crate) async fn dashboard(State(state): State<AppState>, request: Request) -> Response {
    let dir = &state.config().www_dir;
    if dir.join("index.html").is_file() {
        match ServeDir::new(dir).oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(e) => ApiError::internal("serving the dashboard", e).into_response(),
        }
    } else if request.uri().path() == "/" {
        Html(PLACEHOLDER).into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}
