//! Config types of policies: reusable, named behaviours that routes attach in order (rate limits,
//! API keys, JWT, CORS, header changes, IP rules).

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::Duration;

/// A reusable policy attached to routes by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Policy {
    /// Limit the request rate per key (GCRA).
    RateLimit(RateLimitPolicy),
    /// Require an API key.
    ApiKey(ApiKeyPolicy),
    /// Require a valid JWT.
    Jwt(JwtPolicy),
    /// Answer CORS preflights and add CORS headers.
    Cors(CorsPolicy),
    /// Add, set or remove request and response headers.
    Headers(HeadersPolicy),
    /// Allow or deny client addresses.
    IpFilter(IpFilterPolicy),
}

impl Policy {
    /// The policy's unique name.
    pub fn name(&self) -> &str {
        match self {
            Policy::RateLimit(p) => &p.name,
            Policy::ApiKey(p) => &p.name,
            Policy::Jwt(p) => &p.name,
            Policy::Cors(p) => &p.name,
            Policy::Headers(p) => &p.name,
            Policy::IpFilter(p) => &p.name,
        }
    }

    /// The policy's `type` as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            Policy::RateLimit(_) => "rate_limit",
            Policy::ApiKey(_) => "api_key",
            Policy::Jwt(_) => "jwt",
            Policy::Cors(_) => "cors",
            Policy::Headers(_) => "headers",
            Policy::IpFilter(_) => "ip_filter",
        }
    }
}

/// Rate limit settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitPolicy {
    /// Unique policy name.
    pub name: String,
    /// Requests allowed per `window` and key (the sustained rate).
    pub requests: u32,
    /// Length of the window in which `requests` are allowed.
    pub window: Duration,
    /// Extra requests allowed at once above the sustained rate.
    #[serde(default)]
    pub burst: u32,
    /// What identifies a client; several parts combine into one key.
    #[serde(default = "default_key")]
    pub key: Vec<RateLimitKey>,
    /// Where the limiter state lives.
    #[serde(default)]
    pub mode: RateLimitMode,
    /// Message in the `429` body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn default_key() -> Vec<RateLimitKey> {
    vec![RateLimitKey::ClientIp]
}

/// A part of a rate-limit key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitKey {
    /// The client's IP address (after `security.trusted_proxies`).
    ClientIp,
    /// The API key presented (`X-API-Key` or `Authorization: Bearer`).
    ApiKey,
    /// All requests on the route together.
    Route,
    /// The value of a request header (`{header: x-tenant-id}`).
    Header(
        /// Name of the request header whose value is (part of) the key.
        String,
    ),
}

/// Where rate-limit state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitMode {
    /// In this process.
    #[default]
    Local,
    /// In the shared Redis of `redis`, so every proxy enforces one limit.
    Redis,
}

/// The shared Redis for `mode: redis` rate limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// Longest wait for one Redis decision; after it the `on_unavailable` behaviour applies.
    #[serde(default = "default_redis_timeout")]
    pub timeout: Duration,
    /// What happens while Redis cannot be reached.
    #[serde(default)]
    pub on_unavailable: RedisUnavailable,
    /// Prefix of every key written.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

fn default_redis_timeout() -> Duration {
    Duration::from_millis(50)
}
fn default_key_prefix() -> String {
    "flexgate:rl:".into()
}

/// Behaviour of a Redis-backed limit while Redis is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedisUnavailable {
    /// Enforce the limit with this process's local limiter (and report degraded health).
    #[default]
    Local,
    /// Let requests through.
    Allow,
    /// Refuse requests with `503`.
    Deny,
}

/// API-key authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyPolicy {
    /// Unique policy name.
    pub name: String,
    /// Header carrying the key.
    #[serde(default = "default_api_key_header")]
    pub header: String,
    /// Query parameter carrying the key, when clients cannot set headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_param: Option<String>,
    /// Accepted keys; several at once during a rotation.
    pub keys: Vec<ApiKeyEntry>,
    /// Send the credential upstream (default: removed before forwarding).
    #[serde(default)]
    pub forward_credentials: bool,
}

fn default_api_key_header() -> String {
    "x-api-key".into()
}

/// One accepted API key, stored as a hash so the config never holds the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    /// Name of the key's owner, sent upstream as `X-Consumer-Name`.
    pub name: String,
    /// Lower-case hex SHA-256 of the key (`printf %s "$KEY" | sha256sum`).
    pub sha256: String,
}

/// JWT authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtPolicy {
    /// Unique policy name.
    pub name: String,
    /// Accepted signature algorithms.
    pub algorithms: Vec<JwtAlgorithm>,
    /// Shared secret for `HS256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// PEM public key (RSA or P-256) for `RS256`/`ES256`. Relative paths are relative to the
    /// config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
    /// JWKS file with the public keys (selected by `kid`). Relative paths are relative to the
    /// config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    /// Required `iss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Accepted `aud` values (any one must match). Empty: `aud` is not checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway: Duration,
    /// Send the token upstream (default: removed before forwarding).
    #[serde(default)]
    pub forward_credentials: bool,
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

/// A JWT signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256.
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

/// CORS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsPolicy {
    /// Unique policy name.
    pub name: String,
    /// Allowed origins (`https://app.example.com`), or `*`.
    pub allow_origins: Vec<String>,
    /// Methods allowed in preflights.
    #[serde(default = "default_cors_methods")]
    pub allow_methods: Vec<String>,
    /// Request headers allowed in preflights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Response headers exposed to the browser.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Allow credentials (cookies); not allowed with `*`.
    #[serde(default)]
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    #[serde(default = "default_cors_max_age")]
    pub max_age: Duration,
}

fn default_cors_methods() -> Vec<String> {
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        .iter()
        .map(|m| (*m).to_owned())
        .collect()
}
fn default_cors_max_age() -> Duration {
    Duration::from_secs(600)
}

/// Header changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeadersPolicy {
    /// Unique policy name.
    pub name: String,
    /// Changes to the request sent upstream.
    #[serde(default)]
    pub request: HeaderChanges,
    /// Changes to the response sent to the client.
    #[serde(default)]
    pub response: HeaderChanges,
}

/// Header operations, applied in the order remove, set, add.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderChanges {
    /// Headers appended (kept alongside existing values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Headers set (replacing existing values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Headers removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// IP allow and deny lists, evaluated on the client address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpFilterPolicy {
    /// Unique policy name.
    pub name: String,
    /// Networks (CIDR) allowed; empty: every address not denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Networks (CIDR) denied; deny wins over allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}
