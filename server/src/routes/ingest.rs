//! `POST /v1/ingest`: one envelope per request.

use std::io::Read;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use edgesketch::Snapshot;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::Params;
use crate::AppState;
use crate::auth::Scope;
use crate::engine::{Incoming, IngestReport};
use crate::error::ApiError;

/// Applies one envelope, exactly once; answers after it is committed.
pub(crate) async fn ingest(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestReport>, ApiError> {
    let result = accept(&state, query.as_deref(), &headers, body).await;
    let outcome = match &result {
        Ok(report) => report.outcome,
        Err(_) => "error",
    };
    state
        .metrics()
        .ingest
        .get_or_create(&crate::metrics::Metrics::label("outcome", outcome))
        .inc();
    result.map(Json)
}

async fn accept(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<IngestReport, ApiError> {
    let params = Params::parse(query, &["supersedes"])?;
    let supersedes = superseded_sequences(&params)?;
    let principal = state.auth().authorize(
        headers,
        params.get("token")?,
        params.get("tenant")?,
        Scope::Write,
    )?;
    check_content_type(headers)?;
    let gzip = content_encoding_is_gzip(headers)?;
    let config = state.config();
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > config.max_body_bytes as u64
    {
        return Err(body_too_large(config.max_body_bytes));
    }
    let read = Limited::new(body, config.max_body_bytes).collect();
    let bytes =
        match tokio::time::timeout(Duration::from_millis(config.body_timeout_ms), read).await {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "slow_client",
                    format!(
                        "the request body did not arrive within {} ms",
                        config.body_timeout_ms
                    ),
                ));
            }
            Ok(Err(e)) if e.is::<LengthLimitError>() => {
                return Err(body_too_large(config.max_body_bytes));
            }
            Ok(Err(e)) => {
                return Err(ApiError::bad_request(
                    "body_unreadable",
                    format!("the request body could not be read: {e}"),
                ));
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
    let envelope = if gzip {
        gunzip(&bytes, config.max_envelope_bytes)?
    } else {
        if bytes.len() > config.max_envelope_bytes {
            return Err(ApiError::too_large(
                "envelope_too_large",
                format!(
                    "the envelope is {} bytes; at most {} are accepted",
                    bytes.len(),
                    config.max_envelope_bytes
                ),
            ));
        }
        bytes.to_vec()
    };
    if envelope.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request body is empty; send one envelope (edgesketch snapshot bytes)",
        ));
    }
    state.metrics().envelope_bytes.inc_by(envelope.len() as u64);
    // Decoding is CPU work on hostile bytes, linear in their size: a large envelope is decoded
    // off the async workers; a small one in place (tens of µs at most), since handing it to the
    // blocking pool and back costs more than decoding it.
    let max_entries = config.max_entries;
    let max_key = config.max_key_bytes;
    let size = envelope.len();
    let snapshot = if size <= INLINE_DECODE_BYTES {
        decode(&envelope, max_entries, max_key)?
    } else {
        tokio::task::spawn_blocking(move || decode(&envelope, max_entries, max_key))
            .await
            .map_err(|e| ApiError::internal("decoding task", e))??
    };
    let own = snapshot.id().sequence;
    if let Some(&bad) = supersedes.iter().find(|&&s| s >= own) {
        // Settling a sequence at or after this one would make a later envelope a "duplicate".
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!(
                "supersedes={bad}: an envelope can only stand in for earlier sequences of its sender (this one is {own})"
            ),
        ));
    }
    state
        .engine()
        .ingest(Incoming {
            tenant: principal.tenant,
            snapshot,
            size,
            supersedes,
        })
        .await
}

/// Envelopes up to this size are decoded on the request's own task (a dense precision-14
/// HyperLogLog is 12 KB and decodes in ~15 µs here).
const INLINE_DECODE_BYTES: usize = 64 << 10;

/// The most `supersedes` values one request may carry (a split of a split of … stays far below).
const MAX_SUPERSEDED: usize = 64;

/// `?supersedes=<sequence>` (repeatable): this envelope is a part of a refused (413) envelope of
/// the same sender that was split; the server records those sequences as settled, so the drift
/// report does not count them as lost (the ledger's `admit_part`: a part of an envelope applied
/// whole is a duplicate).
fn superseded_sequences(params: &Params) -> Result<Vec<u64>, ApiError> {
    let mut values: Vec<u64> = params.parsed_all("supersedes", "a sequence number")?;
    if values.contains(&0) {
        // Sequences start at 1: a 0 names no envelope.
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "supersedes=0: sequence numbers start at 1",
        ));
    }
    values.sort_unstable();
    values.dedup();
    if values.len() > MAX_SUPERSEDED {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!(
                "at most {MAX_SUPERSEDED} supersedes values, got {}",
                values.len()
            ),
        ));
    }
    Ok(values)
}

fn body_too_large(max: usize) -> ApiError {
    ApiError::too_large(
        "body_too_large",
        format!("the request body is over the limit of {max} bytes"),
    )
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = value.split(';').next().unwrap_or("").trim();
    // `sendBeacon` with a Blob of no type sends text/plain (or nothing); both are accepted.
    if matches!(
        essence,
        "application/octet-stream" | "text/plain" | "application/x-edgesketch-envelope" | ""
    ) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "content type {essence:?} is not an envelope; send application/octet-stream (text/plain or none are accepted for sendBeacon)"
            ),
        ))
    }
}

fn content_encoding_is_gzip(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("identity") | Some("") => Ok(false),
        Some("gzip") | Some("x-gzip") => Ok(true),
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("content encoding {other:?} is not supported; use gzip or none"),
        )),
    }
}

/// Decompresses at most `max` bytes: a gzip bomb stops at the limit. Every member of the body is
/// read (a multi-member gzip file is legal), so bytes after the last one that are not gzip (or a
/// truncated member) are an error, never silently ignored.
fn gunzip(bytes: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes).take(max as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| {
        ApiError::bad_request(
            "bad_gzip",
            format!("the gzip body does not decompress: {e}"),
        )
    })?;
    if out.len() > max {
        return Err(ApiError::too_large(
            "decompressed_too_large",
            format!("the body decompresses to more than {max} bytes"),
        ));
    }
    Ok(out)
}

fn decode(envelope: &[u8], max_entries: usize, max_key: usize) -> Result<Snapshot, ApiError> {
    // The header's entry count is checked before decoding the entries: a small body may not
    // make the server build a large one.
    let view = edgesketch::SnapshotView::parse(envelope).map_err(|e| ApiError::from_decode(&e))?;
    if view.len() > max_entries {
        return Err(ApiError::too_large(
            "too_many_entries",
            format!(
                "the envelope has {} entries; at most {max_entries} are accepted per envelope",
                view.len()
            ),
        ));
    }
    if let Some(long) = view.entries().find(|e| e.key.len() > max_key) {
        return Err(ApiError::unprocessable(
            "key_too_long",
            format!(
                "key of {} bytes (starting {:?}); at most {max_key} bytes are accepted",
                long.key.len(),
                long.key.chars().take(32).collect::<String>()
            ),
        ));
    }
    view.to_snapshot().map_err(|e| ApiError::from_decode(&e))
}
