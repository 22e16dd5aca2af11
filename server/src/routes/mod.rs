//! The HTTP API: the router and what every handler shares (query parameters, auth).

mod ingest;
mod ops;
mod query;

use std::str::FromStr;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::AppState;
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ProblemCode};

/// The router: the API under `/v1`, ops routes, and the dashboard at `/`.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/ingest", post(ingest::ingest))
        .route("/v1/tenant", get(query::tenant))
        .route("/v1/keys", get(query::keys))
        .route("/v1/sketch", get(query::sketch))
        .route("/v1/unique", get(query::unique))
        .route("/v1/unique/series", get(query::unique_series))
        .route("/v1/counter", get(query::counter))
        .route("/v1/window", get(query::window))
        .route("/v1/window/series", get(query::window_series))
        .route("/v1/leaderboard", get(query::leaderboard))
        .route("/v1/topk", get(query::top_k))
        .route("/v1/quantiles", get(query::quantiles))
        .route("/v1/countmin", get(query::count_min))
        .route("/v1/raw", get(query::raw))
        .route("/v1/drift", get(query::drift))
        .route("/v1/events", get(ops::events))
        .route("/v1", axum::routing::any(ops::no_such_route))
        .route("/v1/", axum::routing::any(ops::no_such_route))
        .route("/v1/{*rest}", axum::routing::any(ops::no_such_route));
    let cors = cors(&state.config().cors_origins);
    let mut router = api
        .route("/openapi.json", get(ops::openapi))
        .route("/metrics", get(ops::metrics))
        .route("/livez", get(ops::livez))
        .route("/readyz", get(ops::readyz))
        // After every route: it reaches only the routes added before it (a POST to /metrics
        // answered a bare 405).
        .method_not_allowed_fallback(ops::method_not_allowed)
        .fallback(ops::dashboard)
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            count_problems,
        ))
        // Spans name the path, never the query string: a `token` may ride there (beacons).
        // Failures (5xx) at debug too: the handlers log their causes, once, at their own level.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG))
                .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        version = ?request.version(),
                    )
                }),
        )
        .with_state(state);
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router
}

/// Counts every problem answer by its code (`edgesketch_errors_total{code}`).
async fn count_problems(
    axum::extract::State(state): axum::extract::State<AppState>,
    response: axum::response::Response,
) -> axum::response::Response {
    if let Some(ProblemCode(code)) = response.extensions().get::<ProblemCode>() {
        state.metrics().error(code);
    }
    response
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.iter().any(|o| o.trim() == "*") {
        return Some(cors_layer(AllowOrigin::any()));
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| !o.is_empty())
        .filter_map(|o| match HeaderValue::from_str(o.trim()) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::warn!(origin = %o, "ignoring a CORS origin that is not a valid header value");
                None
            }
        })
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(cors_layer(AllowOrigin::list(origins)))
}

fn cors_layer(origins: AllowOrigin) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}

/// A query string, parsed strictly: unknown parameters and repeated single-valued ones are
/// errors, so a typo never silently changes an answer.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

/// `application/x-www-form-urlencoded` pairs, decoded strictly: a name or value whose bytes are
/// not UTF-8 is refused (decoded lossily it would name another key, and answer for it).
fn decode_query(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    let decode = |part: &str| {
        let spaced = part.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!(
                        "query parameter {:?} is not UTF-8 once percent-decoded",
                        part.chars().take(64).collect::<String>()
                    ),
                )
            })
    };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

/// Accepted by every route: auth in the URL (`sendBeacon`, `EventSource`) and the tenant check.
const COMMON: [&str; 2] = ["token", "tenant"];

impl Params {
    pub(crate) fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs = decode_query(raw.unwrap_or(""))?;
        for (name, _) in &pairs {
            if !allowed.contains(&name.as_str()) && !COMMON.contains(&name.as_str()) {
                let mut known: Vec<&str> = allowed.iter().chain(COMMON.iter()).copied().collect();
                known.sort_unstable();
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!(
                        "unknown query parameter {name:?}; this route takes: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(Params { pairs })
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of a single-valued parameter.
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.all(name)[..] {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(ApiError::bad_request(
                "repeated_parameter",
                format!("query parameter {name:?} may appear once"),
            )),
        }
    }

    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)?.ok_or_else(|| {
            ApiError::bad_request(
                "missing_parameter",
                format!("query parameter {name:?} is required"),
            )
        })
    }

    /// The `key` a query is about: present once and not empty (no key is empty).
    pub(crate) fn key(&self) -> Result<&str, ApiError> {
        let key = self.required("key")?;
        non_empty_key(key)
    }

    /// A parsed value; `what` says what was expected.
    pub(crate) fn parsed<T: FromStr>(&self, name: &str, what: &str) -> Result<Option<T>, ApiError> {
        self.get(name)?
            .map(|v| parse_value(name, v, what))
            .transpose()
    }

    /// Every value of a repeatable parameter, parsed; `what` says what was expected.
    pub(crate) fn parsed_all<T: FromStr>(
        &self,
        name: &str,
        what: &str,
    ) -> Result<Vec<T>, ApiError> {
        self.all(name)
            .into_iter()
            .map(|v| parse_value(name, v, what))
            .collect()
    }
}

fn parse_value<T: FromStr>(name: &str, value: &str, what: &str) -> Result<T, ApiError> {
    value.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("query parameter {name}={value:?}: expected {what}"),
        )
    })
}

/// Authenticates a request for `need`.
pub(crate) fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    need: Scope,
) -> Result<Principal, ApiError> {
    state
        .auth()
        .authorize(headers, params.get("token")?, params.get("tenant")?, need)
}

/// Refuses an empty `key` value: a sender cannot write one, so asking for it is a client's bug
/// (an unset variable, say), not a question with the answer "no such key".
pub(crate) fn non_empty_key(key: &str) -> Result<&str, ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "query parameter \"key\" is empty; keys are 1 or more bytes",
        ));
    }
    Ok(key)
}
