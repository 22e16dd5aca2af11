//! Tenants and tokens. Tokens are kept only as SHA-256 digests and compared in constant time; a
//! token belongs to one tenant and carries scopes (read, write). Every key lives in its tenant's
//! namespace, so a token can never name another tenant's data.
//!
//! The tenants file (TOML):
//! ```toml
//! [[tenants]]
//! name = "acme"
//! max_keys = 50000            # optional, else --max-keys-per-tenant
//! max_bytes = 268435456       # optional, else --max-bytes-per-tenant
//! [[tenants.tokens]]
//! label = "edge workers"      # for logs
//! sha256 = "9f86d081884c7d65..."  # `edgesketch-server hash-token <token>`
//! scopes = ["write"]
//! ```

use std::path::Path;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Queries, raw export, events, drift.
    Read,
    /// Ingest.
    Write,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    tenants: Vec<TenantEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantEntry {
    name: String,
    max_keys: Option<u64>,
    max_bytes: Option<u64>,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    #[serde(default)]
    label: String,
    sha256: String,
    scopes: Vec<Scope>,
}

/// A tenant's name and quotas.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Its name, also its namespace in the store.
    pub name: Arc<str>,
    /// Most keys, if it has its own quota.
    pub max_keys: Option<u64>,
    /// Most stored bytes, if it has its own quota.
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone)]
struct Token {
    digest: [u8; 32],
    tenant: usize,
    label: String,
    read: bool,
    write: bool,
}

/// Who is asking: their tenant and what they may do.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The tenant acted for.
    pub tenant: Tenant,
    /// The token's label (empty in open mode).
    pub label: String,
    read: bool,
    write: bool,
}

/// Tenants and tokens, or open mode.
#[derive(Debug, Clone)]
pub struct Auth {
    tenants: Vec<Tenant>,
    tokens: Vec<Token>,
    open: bool,
}

/// The tenant of open mode.
pub const OPEN_TENANT: &str = "public";

/// The SHA-256 digest of a token.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The SHA-256 digest of a token, in hex: what the tenants file stores.
pub fn hash_token(token: &str) -> String {
    hex::encode(token_digest(token))
}

fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Auth {
    /// No tenants yet (add them with [`Auth::add_tenant`]).
    pub fn empty() -> Self {
        Auth {
            tenants: Vec::new(),
            tokens: Vec::new(),
            open: false,
        }
    }

    /// No authentication; one tenant, `public`.
    pub fn open() -> Self {
        Auth {
            tenants: vec![Tenant {
                name: OPEN_TENANT.into(),
                max_keys: None,
                max_bytes: None,
            }],
            tokens: Vec::new(),
            open: true,
        }
    }

    /// Reads a tenants file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read tenants file {}: {e}", path.display()))?;
        Self::from_toml(&text).map_err(|e| format!("tenants file {}: {e}", path.display()))
    }

    /// Parses a tenants file's text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: TenantsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut auth = Auth {
            tenants: Vec::new(),
            tokens: Vec::new(),
            open: false,
        };
        for entry in file.tenants {
            let tokens = entry
                .tokens
                .into_iter()
                .map(|t| {
                    let mut digest = [0u8; 32];
                    hex::decode_to_slice(t.sha256.trim(), &mut digest).map_err(|_| {
                        format!(
                            "tenant {}: token {:?}: sha256 must be 64 hex digits (edgesketch-server hash-token <token>)",
                            entry.name, t.label
                        )
                    })?;
                    Ok((digest, t.label, t.scopes))
                })
                .collect::<Result<Vec<_>, String>>()?;
            auth.add_tenant(
                Tenant {
                    name: entry.name.as_str().into(),
                    max_keys: entry.max_keys,
                    max_bytes: entry.max_bytes,
                },
                tokens,
            )?;
        }
        if auth.tenants.is_empty() {
            return Err("no tenants defined".into());
        }
        Ok(auth)
    }

    /// Adds a tenant with tokens given as (digest, label, scopes).
    pub fn add_tenant(
        &mut self,
        tenant: Tenant,
        tokens: Vec<([u8; 32], String, Vec<Scope>)>,
    ) -> Result<(), String> {
        if !valid_tenant_name(&tenant.name) {
            return Err(format!(
                "tenant name {:?}: use 1 to 64 of A-Z a-z 0-9 - _",
                tenant.name
            ));
        }
        if self.tenants.iter().any(|t| t.name == tenant.name) {
            return Err(format!("tenant {} is defined twice", tenant.name));
        }
        let index = self.tenants.len();
        for (digest, label, scopes) in tokens {
            if scopes.is_empty() {
                return Err(format!(
                    "tenant {}: token {label:?} has no scopes",
                    tenant.name
                ));
            }
            if self.tokens.iter().any(|t| t.digest == digest) {
                return Err(format!(
                    "tenant {}: token {label:?} is used twice",
                    tenant.name
                ));
            }
            self.tokens.push(Token {
                digest,
                tenant: index,
                label,
                read: scopes.contains(&Scope::Read),
                write: scopes.contains(&Scope::Write),
            });
        }
        self.tenants.push(tenant);
        Ok(())
    }

    /// Every tenant.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// Whether anyone may do anything (open mode).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Finds who is asking, from `Authorization: Bearer <token>` or else a `token` query
    /// parameter (for `sendBeacon` and `EventSource`, which cannot set headers), and checks that
    /// they may `need` for `tenant` (if the request names one).
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        query_token: Option<&str>,
        named_tenant: Option<&str>,
        need: Scope,
    ) -> Result<Principal, ApiError> {
        let principal = self.authenticate(headers, query_token)?;
        if let Some(named) = named_tenant
            && named != &*principal.tenant.name
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_tenant",
                format!(
                    "this token belongs to another tenant than {named:?}; use a token of {named:?}"
                ),
            ));
        }
        let allowed = match need {
            Scope::Read => principal.read,
            Scope::Write => principal.write,
        };
        if !allowed {
            let (code, detail) = match need {
                Scope::Read => ("write_only_token", "this token may write but not read"),
                Scope::Write => ("read_only_token", "this token may read but not write"),
            };
            return Err(ApiError::new(StatusCode::FORBIDDEN, code, detail));
        }
        Ok(principal)
    }

    fn authenticate(
        &self,
        headers: &HeaderMap,
        query_token: Option<&str>,
    ) -> Result<Principal, ApiError> {
        if self.open {
            return Ok(Principal {
                tenant: self.tenants[0].clone(),
                label: String::new(),
                read: true,
                write: true,
            });
        }
        let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
        let presented = match (authorization.next(), authorization.next()) {
            (Some(_), Some(_)) => {
                // Which one would count is anyone's guess (a proxy may have added one): refuse.
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "bad_authorization",
                    "send one Authorization header, not several",
                ));
            }
            (Some(value), None) => bearer_token(value.to_str().unwrap_or("")).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "bad_authorization",
                    "the Authorization header must be `Bearer <token>`",
                )
            })?,
            (None, _) => query_token.unwrap_or(""),
        };
        if presented.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "send a token: `Authorization: Bearer <token>` or a `token` query parameter",
            ));
        }
        let digest = token_digest(presented);
        // Compare with every token, without stopping early, so timing says nothing about which
        // digest came close.
        let mut found: Option<&Token> = None;
        for token in &self.tokens {
            if bool::from(token.digest.ct_eq(&digest)) {
                found = Some(token);
            }
        }
        let token = found.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_token",
                "the token is not valid for this server",
            )
        })?;
        Ok(Principal {
            tenant: self.tenants[token.tenant].clone(),
            label: token.label.clone(),
            read: token.read,
            write: token.write,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` value: the scheme in any case (RFC 9110
/// §11.1), then spaces or tabs; None for another scheme.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_matches([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_spaces_may_be_tabs() {
        for value in [
            "Bearer t0k",
            "bearer t0k",
            "BEARER t0k",
            "Bearer\tt0k",
            "  Bearer   t0k  ",
        ] {
            assert_eq!(bearer_token(value), Some("t0k"), "{value:?}");
        }
        for value in ["Basic t0k", "Bearert0k", "Bearer", "t0k"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    fn file(extra: &str) -> String {
        format!(
            "[[tenants]]\nname = \"a\"\n[[tenants.tokens]]\nsha256 = \"{}\"\nscopes = [\"read\", \"write\"]\n{extra}",
            hash_token("secret-a")
        )
    }

    #[test]
    fn tokens_resolve_to_their_tenant_and_scopes() {
        let text = file(&format!(
            "[[tenants]]\nname = \"b\"\n[[tenants.tokens]]\nsha256 = \"{}\"\nscopes = [\"read\"]\n",
            hash_token("secret-b")
        ));
        let auth = Auth::from_toml(&text).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer secret-b".parse().unwrap());
        let p = auth.authorize(&headers, None, None, Scope::Read).unwrap();
        assert_eq!(&*p.tenant.name, "b");
        let e = auth
            .authorize(&headers, None, None, Scope::Write)
            .unwrap_err();
        assert_eq!(e.code, "read_only_token");
        let e = auth
            .authorize(&headers, None, Some("a"), Scope::Read)
            .unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (403, "wrong_tenant"));
        let p = auth
            .authorize(&HeaderMap::new(), Some("secret-a"), Some("a"), Scope::Write)
            .unwrap();
        assert_eq!(&*p.tenant.name, "a");
        let e = auth
            .authorize(&HeaderMap::new(), Some("nope"), None, Scope::Read)
            .unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (401, "bad_token"));
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(Auth::from_toml("").unwrap_err().contains("tenants"));
        let dup = format!("{}{}", file(""), file(""));
        assert!(Auth::from_toml(&dup).unwrap_err().contains("twice"));
        let bad = "[[tenants]]\nname = \"a b\"\n";
        assert!(Auth::from_toml(bad).unwrap_err().contains("tenant name"));
        let short = "[[tenants]]\nname = \"a\"\n[[tenants.tokens]]\nsha256 = \"abc\"\nscopes = [\"read\"]\n";
        assert!(Auth::from_toml(short).unwrap_err().contains("64 hex"));
        let typo = "[[tenants]]\nname = \"a\"\nmax_keyz = 3\n";
        assert!(Auth::from_toml(typo).unwrap_err().contains("max_keyz"));
    }
}
