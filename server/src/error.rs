//! Every error the API answers with: an HTTP status, a stable machine-readable `code` and a
//! human-readable `detail`, sent as `application/problem+json` (RFC 9457). Internals (SQL, paths)
//! never leak into `detail`; they are logged instead.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edgesketch::Error as CoreError;
use edgesketch::ledger::Refusal;
use serde::Serialize;

/// The problem code of an error response, as a response extension (for the errors metric).
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode(pub &'static str);

/// An error answer. `code` is part of the API: clients may match on it (docs/OPERATIONS.md lists
/// every code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable, snake_case.
    pub code: &'static str,
    /// What was wrong, for people.
    pub detail: String,
    /// Seconds to wait before retrying (overload, store trouble, too many senders; not quotas,
    /// which waiting does not clear).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
}

impl ApiError {
    /// An error with `status`, `code` and `detail`.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 404.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 422.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 413.
    pub fn too_large(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, detail)
    }

    /// 503 with Retry-After: the server cannot take the request now; the same request later can
    /// succeed.
    pub fn unavailable(code: &'static str, detail: impl Into<String>, retry_after: u64) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail).with_retry_after(retry_after)
    }

    /// 500; the cause goes to the log, not to the client.
    pub fn internal(what: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "{what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error: {what}; see the server log"),
        )
    }

    /// Sets Retry-After.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// An envelope (or sketch) the core could not decode: 422 for what is well-formed but not
    /// supported here (a newer version, an unknown family), 400 for everything else.
    pub fn from_decode(err: &CoreError) -> Self {
        match err {
            CoreError::UnsupportedVersion { .. } => {
                Self::unprocessable("unsupported_version", err.to_string())
            }
            CoreError::UnknownFamily { .. } => {
                Self::unprocessable("unsupported_family", err.to_string())
            }
            CoreError::UnsupportedFlags { .. } => {
                Self::unprocessable("unsupported_flags", err.to_string())
            }
            CoreError::KeyTooLong { .. } => Self::unprocessable("key_too_long", err.to_string()),
            CoreError::EmptyKey => Self::unprocessable("empty_key", err.to_string()),
            CoreError::Truncated { .. } | CoreError::LengthMismatch { .. } => {
                Self::bad_request("truncated_envelope", err.to_string())
            }
            CoreError::BadMagic { .. } => Self::bad_request("not_an_envelope", err.to_string()),
            CoreError::ChecksumMismatch { .. } => {
                Self::bad_request("corrupt_envelope", err.to_string())
            }
            _ => Self::bad_request("malformed_envelope", err.to_string()),
        }
    }

    /// The ledger refused an envelope (see edgesketch's `ledger` module).
    pub fn from_refusal(refusal: &Refusal) -> Self {
        let detail = refusal.to_string();
        match refusal {
            Refusal::TooOld { .. } => Self::unprocessable("envelope_too_old", detail),
            Refusal::FromTheFuture { .. } => Self::unprocessable("envelope_from_future", detail),
            Refusal::BelowWindow { .. } => Self::unprocessable("sequence_below_window", detail),
            Refusal::SequenceZero => Self::bad_request("sequence_zero", detail),
            Refusal::TooManySenders { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_senders", detail)
                    .with_retry_after(60)
            }
            _ => Self::unprocessable("envelope_refused", detail),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("https://edgesketch.dev/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("error"),
            status: self.status.as_u16(),
            code: self.code,
            detail: &self.detail,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.extensions_mut().insert(ProblemCode(self.code));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"edgesketch\""),
            );
        }
        response
    }
}
