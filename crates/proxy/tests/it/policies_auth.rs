//! Authentication policies end to end: API keys (rotation, header and query forms, credential
//! stripping) and JWT (HS256, RS256, ES256; time claims with leeway, issuer, audience, `kid`
//! selection, and the attacks: `alg: none`, algorithm confusion, forged signatures). Every refusal
//! is checked to never reach the upstream.
//!
//! Keys are made in the tests, except the RSA key (`fixtures/jwt-rs256-test-only.key`): the test
//! dependencies can sign with RSA but not generate RSA keys.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use ring::{digest, hmac};
use serde_json::{json, Value};

use crate::support::body::empty;
use crate::support::{
    fetch, http1_client, parse_config, request, start_proxy, ProxyExt, Reply, TestUpstream,
};

const RSA_PKCS8_PEM: &str = include_str!("fixtures/jwt-rs256-test-only.key");

fn sha256_hex(text: &str) -> String {
    digest::digest(&digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Asserts a gateway-made `401` with the error `code` and the challenge `www_authenticate`.
fn assert_401(reply: &Reply, code: &str, www_authenticate: &str) {
    assert_eq!(
        reply.status,
        401,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_eq!(body["error"]["code"], code);
    assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    assert_eq!(
        body["correlation_id"].as_str().unwrap(),
        reply.header("x-correlation-id")
    );
    assert_eq!(reply.header("www-authenticate"), www_authenticate);
    assert_eq!(reply.header("content-type"), "application/json");
}

// ---------------------------------------------------------------------------------------------
// API keys

const API_KEY_CONFIG: &str = r#"
    upstreams:
      - name: echo
        targets: [{url: "${echo}"}]
    routes:
      - name: keys
        match: {path: /keys/*}
        upstream: echo
        policies: [keys]
      - name: forwarded
        match: {path: /fwd/*}
        upstream: echo
        policies: [keys-forward]
    policies:
      - type: api_key
        name: keys
        query_param: api_key
        keys:
          - {name: ci, sha256: "${current}"}
          - {name: ci-next, sha256: "${next}"}
      - type: api_key
        name: keys-forward
        header: x-partner-key
        forward_credentials: true
        keys:
          - {name: partner, sha256: "${partner}"}
"#;

const CURRENT_KEY: &str = "fg_live_current_8c1d2e";
const NEXT_KEY: &str = "fg_live_next_77aa01";
const PARTNER_KEY: &str = "partner key/with+symbols";

async fn api_key_setup() -> (TestUpstream, std::sync::Arc<flexgate_proxy::ProxyHandle>) {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        API_KEY_CONFIG,
        &[
            ("echo", echo.url()),
            ("current", sha256_hex(CURRENT_KEY)),
            ("next", sha256_hex(NEXT_KEY)),
            ("partner", sha256_hex(PARTNER_KEY)),
        ],
    )
    .await;
    (echo, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_in_rotation_are_all_accepted_and_stripped() {
    let (echo, proxy) = api_key_setup().await;
    let client = http1_client();

    for (key, consumer) in [(CURRENT_KEY, "ci"), (NEXT_KEY, "ci-next")] {
        let reply = fetch(
            &client,
            request("GET", &proxy.url("/keys/orders"))
                .header("x-api-key", key)
                // A client cannot choose its consumer name.
                .header("x-consumer-name", "admin")
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, 200);
        let seen = &reply.json()["headers"];
        assert_eq!(seen["x-consumer-name"], consumer);
        assert!(seen.get("x-api-key").is_none(), "key stripped: {seen}");
    }
    assert_eq!(echo.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_wrong_api_keys_are_refused_at_the_edge() {
    let (echo, proxy) = api_key_setup().await;
    let client = http1_client();
    let challenge = r#"ApiKey header="x-api-key", query="api_key""#;

    let missing = fetch(
        &client,
        request("GET", &proxy.url("/keys/orders"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_401(&missing, "unauthorized", challenge);

    let empty_value = fetch(
        &client,
        request("GET", &proxy.url("/keys/orders"))
            .header("x-api-key", "")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_401(&empty_value, "unauthorized", challenge);

    for wrong in [
        "fg_live_current_8c1d2f",
        "FG_LIVE_CURRENT_8C1D2E",
        PARTNER_KEY,
    ] {
        let reply = fetch(
            &client,
            request("GET", &proxy.url("/keys/orders"))
                .header("x-api-key", wrong)
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_401(&reply, "invalid_credentials", challenge);
        assert!(
            !String::from_utf8_lossy(&reply.body).contains(wrong),
            "the key is not echoed"
        );
    }
    assert_eq!(
        echo.requests(),
        0,
        "no refused request reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_in_the_query_string_are_removed_from_the_forwarded_uri() {
    let (echo, proxy) = api_key_setup().await;
    let client = http1_client();

    let reply = fetch(
        &client,
        request(
            "GET",
            &proxy.url(&format!("/keys/orders?page=2&api_key={NEXT_KEY}&q=a%2Fb")),
        )
        .body(empty())
        .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = reply.json();
    assert_eq!(seen["query"], "page=2&q=a%2Fb");
    assert_eq!(seen["path"], "/keys/orders");
    assert_eq!(seen["headers"]["x-consumer-name"], "ci-next");

    // Alone in the query: the `?` goes too.
    let reply = fetch(
        &client,
        request(
            "GET",
            &proxy.url(&format!("/keys/orders?api_key={CURRENT_KEY}")),
        )
        .body(empty())
        .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["query"], Value::Null);

    let wrong = fetch(
        &client,
        request("GET", &proxy.url("/keys/orders?api_key=nope"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_401(
        &wrong,
        "invalid_credentials",
        r#"ApiKey header="x-api-key", query="api_key""#,
    );
    assert_eq!(echo.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_forwarded_when_configured() {
    let (echo, proxy) = api_key_setup().await;
    let client = http1_client();

    let reply = fetch(
        &client,
        request("GET", &proxy.url("/fwd/x"))
            .header("x-partner-key", PARTNER_KEY)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = &reply.json()["headers"];
    assert_eq!(seen["x-partner-key"], PARTNER_KEY);
    assert_eq!(seen["x-consumer-name"], "partner");

    // The default header is not what this policy reads.
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/fwd/x"))
            .header("x-api-key", PARTNER_KEY)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_401(&reply, "unauthorized", r#"ApiKey header="x-partner-key""#);
    assert_eq!(echo.requests(), 1);
}

// ---------------------------------------------------------------------------------------------
// JWT

const SECRET: &str = "hs256-test-secret-0123456789abcdef";
const ISSUER: &str = "https://issuer.flexgate.test";

/// The RSA fixture key and the public forms the gateway reads.
struct RsaKey {
    pair: RsaKeyPair,
    /// SubjectPublicKeyInfo PEM (`PUBLIC KEY`).
    spki_pem: String,
    /// PKCS#1 PEM (`RSA PUBLIC KEY`).
    pkcs1_pem: String,
    n: Vec<u8>,
    e: Vec<u8>,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// `(n, e)` of a PKCS#1 `RSAPublicKey` (short test-only DER reading: lengths of at most 2 bytes).
fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn read(input: &[u8], tag: u8) -> (&[u8], &[u8]) {
        assert_eq!(input[0], tag);
        let (len, start) = match input[1] {
            l if l < 0x80 => (usize::from(l), 2),
            0x81 => (usize::from(input[2]), 3),
            0x82 => ((usize::from(input[2]) << 8) | usize::from(input[3]), 4),
            other => panic!("unexpected DER length byte {other:#x}"),
        };
        (&input[start..start + len], &input[start + len..])
    }
    let (seq, _) = read(der, 0x30);
    let (n, rest) = read(seq, 0x02);
    let (e, _) = read(rest, 0x02);
    let trim = |b: &[u8]| b.iter().skip_while(|&&x| x == 0).copied().collect();
    (trim(n), trim(e))
}

fn rsa_key() -> RsaKey {
    let pair = RsaKeyPair::from_pkcs8(&pem_der(RSA_PKCS8_PEM)).unwrap();
    let spki_pem = rcgen::KeyPair::from_pem(RSA_PKCS8_PEM)
        .unwrap()
        .public_key_pem();
    let pkcs1 = pair.public().as_ref().to_vec();
    let (n, e) = rsa_components(&pkcs1);
    RsaKey {
        spki_pem,
        pkcs1_pem: pem("RSA PUBLIC KEY", &pkcs1),
        pair,
        n,
        e,
    }
}

/// A fresh P-256 key.
struct EcKey {
    pair: EcdsaKeyPair,
    spki_pem: String,
}

impl EcKey {
    fn generate() -> EcKey {
        let generated = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &generated.serialize_der(),
            &SystemRandom::new(),
        )
        .unwrap();
        EcKey {
            pair,
            spki_pem: generated.public_key_pem(),
        }
    }

    fn jwk(&self, kid: &str) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
               "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }
}

enum Signer<'a> {
    Hs(&'a [u8]),
    Rs(&'a RsaKeyPair),
    Es(&'a EcdsaKeyPair),
    /// Writes the header and claims with an empty signature (`alg: none`).
    Unsigned,
}

fn token(header: Value, claims: &Value, signer: Signer<'_>) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let rng = SystemRandom::new();
    let sig = match signer {
        Signer::Hs(secret) => {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes())
                .as_ref()
                .to_vec()
        }
        Signer::Rs(pair) => {
            let mut sig = vec![0; pair.public().modulus_len()];
            pair.sign(
                &signature::RSA_PKCS1_SHA256,
                &rng,
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
            sig
        }
        Signer::Es(pair) => pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
        Signer::Unsigned => Vec::new(),
    };
    format!("{input}.{}", b64(sig))
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "orders-api", "sub": "user-1", "exp": now() + 300, "iat": now()})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn hs(claims: &Value) -> String {
    token(
        json!({"alg": "HS256", "typ": "JWT"}),
        claims,
        Signer::Hs(SECRET.as_bytes()),
    )
}

const JWT_CONFIG: &str = r#"
    upstreams:
      - name: echo
        targets: [{url: "${echo}"}]
    routes:
      - {name: hs, match: {path: /hs/*}, upstream: echo, policies: [hs]}
      - {name: hs-forward, match: {path: /hs-forward/*}, upstream: echo, policies: [hs-forward]}
      - {name: rs, match: {path: /rs/*}, upstream: echo, policies: [rs]}
      - {name: rs-pkcs1, match: {path: /rs-pkcs1/*}, upstream: echo, policies: [rs-pkcs1]}
      - {name: es, match: {path: /es/*}, upstream: echo, policies: [es]}
      - {name: mixed, match: {path: /mixed/*}, upstream: echo, policies: [mixed]}
      - {name: jwks, match: {path: /jwks/*}, upstream: echo, policies: [jwks]}
    policies:
      - type: jwt
        name: hs
        algorithms: [HS256]
        secret: "${secret}"
        issuer: "${issuer}"
        audiences: [orders-api, admin-api]
        leeway: 30s
      - type: jwt
        name: hs-forward
        algorithms: [HS256]
        secret: "${secret}"
        forward_credentials: true
      - {type: jwt, name: rs, algorithms: [RS256], public_key_file: "${rsa_spki}"}
      - {type: jwt, name: rs-pkcs1, algorithms: [RS256], public_key_file: "${rsa_pkcs1}"}
      - {type: jwt, name: es, algorithms: [ES256], public_key_file: "${ec_spki}"}
      - type: jwt
        name: mixed
        algorithms: [HS256, RS256]
        secret: "${secret}"
        public_key_file: "${rsa_spki}"
      - {type: jwt, name: jwks, algorithms: [RS256, ES256], jwks_file: "${jwks}"}
"#;

struct JwtSetup {
    echo: TestUpstream,
    proxy: std::sync::Arc<flexgate_proxy::ProxyHandle>,
    rsa: RsaKey,
    ec: EcKey,
    ec_second: EcKey,
    _dir: tempfile::TempDir,
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn jwt_setup() -> JwtSetup {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_key();
    let ec = EcKey::generate();
    let ec_second = EcKey::generate();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "n": b64(&rsa.n), "e": b64(&rsa.e)},
        ec.jwk("ec-1"),
        ec_second.jwk("ec-2"),
        // Skipped: an encryption key and a key type the gateway does not use.
        {"kty": "RSA", "kid": "enc-1", "use": "enc", "n": b64(&rsa.n), "e": b64(&rsa.e)},
        {"kty": "oct", "kid": "sym-1", "k": b64(SECRET)},
    ]});
    let echo = TestUpstream::start("echo").await;
    let vars = [
        ("echo", echo.url()),
        ("secret", SECRET.to_owned()),
        ("issuer", ISSUER.to_owned()),
        ("rsa_spki", write(dir.path(), "rsa.pub.pem", &rsa.spki_pem)),
        (
            "rsa_pkcs1",
            write(dir.path(), "rsa.pkcs1.pem", &rsa.pkcs1_pem),
        ),
        ("ec_spki", write(dir.path(), "ec.pub.pem", &ec.spki_pem)),
        ("jwks", write(dir.path(), "jwks.json", &jwks.to_string())),
    ];
    let proxy = start_proxy(JWT_CONFIG, &vars).await;
    JwtSetup {
        echo,
        proxy,
        rsa,
        ec,
        ec_second,
        _dir: dir,
    }
}

impl JwtSetup {
    async fn call(&self, path: &str, authorization: Option<String>) -> Reply {
        let mut req = request("GET", &self.proxy.url(path));
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        fetch(&http1_client(), req.body(empty()).unwrap()).await
    }

    async fn bearer(&self, path: &str, token: &str) -> Reply {
        self.call(path, Some(format!("Bearer {token}"))).await
    }

    /// Sends `token` and expects `401 invalid_token`; returns nothing reached the upstream.
    async fn refused(&self, path: &str, token: &str, why: &str) {
        let before = self.echo.requests();
        let reply = self.bearer(path, token).await;
        assert_eq!(reply.status, 401, "{why}: {:?}", reply.json());
        assert_401(&reply, "invalid_token", r#"Bearer error="invalid_token""#);
        assert_eq!(self.echo.requests(), before, "{why}: reached the upstream");
    }

    async fn accepted(&self, path: &str, token: &str, why: &str) -> Reply {
        let reply = self.bearer(path, token).await;
        assert_eq!(reply.status, 200, "{why}: {}", reply.json());
        reply
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_tokens_are_verified_and_stripped() {
    let s = jwt_setup().await;

    let reply = s.accepted("/hs/orders", &hs(&claims()), "valid").await;
    let seen = &reply.json()["headers"];
    assert!(
        seen.get("authorization").is_none(),
        "token stripped: {seen}"
    );

    // Lower-case scheme, audience as an array with one accepted value.
    let aud_list = with(claims(), "aud", json!(["billing", "admin-api"]));
    let reply = s
        .call("/hs/orders", Some(format!("bearer {}", hs(&aud_list))))
        .await;
    assert_eq!(reply.status, 200);

    let forwarded = s
        .accepted("/hs-forward/x", &hs(&claims()), "forwarding route")
        .await;
    assert!(forwarded.json()["headers"]["authorization"]
        .as_str()
        .unwrap()
        .starts_with("Bearer "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tokens_get_a_bearer_challenge() {
    let s = jwt_setup().await;
    for authorization in [None, Some("Basic dXNlcjpwYXNz".to_owned())] {
        let reply = s.call("/hs/orders", authorization).await;
        assert_401(&reply, "unauthorized", "Bearer");
    }
    assert_eq!(s.echo.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_issuer_and_audience_claims_are_enforced() {
    let s = jwt_setup().await;
    let t = now();

    // `exp` and `nbf` with the 30 s leeway.
    s.accepted(
        "/hs/a",
        &hs(&with(claims(), "exp", json!(t - 10))),
        "expired within leeway",
    )
    .await;
    s.refused(
        "/hs/a",
        &hs(&with(claims(), "exp", json!(t - 120))),
        "expired",
    )
    .await;
    let expired = s
        .bearer("/hs/a", &hs(&with(claims(), "exp", json!(t - 120))))
        .await;
    assert!(expired.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    s.accepted(
        "/hs/a",
        &hs(&with(claims(), "nbf", json!(t + 10))),
        "nbf within leeway",
    )
    .await;
    s.refused(
        "/hs/a",
        &hs(&with(claims(), "nbf", json!(t + 300))),
        "nbf in the future",
    )
    .await;

    s.refused(
        "/hs/a",
        &hs(&with(claims(), "iss", json!("https://evil.test"))),
        "wrong issuer",
    )
    .await;
    let mut no_iss = claims();
    no_iss.as_object_mut().unwrap().remove("iss");
    s.refused("/hs/a", &hs(&no_iss), "missing issuer").await;
    s.refused(
        "/hs/a",
        &hs(&with(claims(), "aud", json!("billing"))),
        "wrong audience",
    )
    .await;
    s.refused(
        "/hs/a",
        &hs(&with(claims(), "aud", json!(["billing", "other"]))),
        "no accepted audience in the list",
    )
    .await;
    let mut no_aud = claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    s.refused("/hs/a", &hs(&no_aud), "missing audience").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_unsigned_tokens_are_refused() {
    let s = jwt_setup().await;
    let c = claims();

    let other_secret = token(
        json!({"alg": "HS256"}),
        &c,
        Signer::Hs(b"not-the-configured-secret"),
    );
    s.refused("/hs/a", &other_secret, "signed with another secret")
        .await;

    // The payload swapped under a valid signature.
    let valid = hs(&c);
    let mut parts: Vec<&str> = valid.split('.').collect();
    let elevated = b64(with(c.clone(), "sub", json!("admin")).to_string());
    parts[1] = &elevated;
    s.refused("/hs/a", &parts.join("."), "tampered payload")
        .await;

    for header in [
        json!({"alg": "none"}),
        json!({"alg": "None"}),
        json!({"alg": "HS512"}),
    ] {
        let unsigned = token(header.clone(), &c, Signer::Unsigned);
        s.refused("/hs/a", &unsigned, &format!("alg {header}"))
            .await;
    }
    s.refused("/hs/a", "not-a-jwt", "not a JWT").await;
    s.refused("/hs/a", "a.b.c", "undecodable segments").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_and_es256_verify_with_pem_public_keys() {
    let s = jwt_setup().await;
    let c = claims();
    let rs = token(json!({"alg": "RS256"}), &c, Signer::Rs(&s.rsa.pair));
    let es = token(json!({"alg": "ES256"}), &c, Signer::Es(&s.ec.pair));

    s.accepted("/rs/a", &rs, "RS256 with an SPKI PEM").await;
    s.accepted("/rs-pkcs1/a", &rs, "RS256 with a PKCS#1 PEM")
        .await;
    s.accepted("/es/a", &es, "ES256 with an SPKI PEM").await;

    s.refused("/rs/a", &es, "ES256 where only RS256 is allowed")
        .await;
    s.refused("/es/a", &rs, "RS256 where only ES256 is allowed")
        .await;
    let other_ec = token(json!({"alg": "ES256"}), &c, Signer::Es(&s.ec_second.pair));
    s.refused("/es/a", &other_ec, "ES256 signed by another key")
        .await;
    // An RS256 signature presented as ES256 (and the reverse) is just a bad signature.
    let relabelled: Vec<&str> = rs.split('.').collect();
    let es_header = b64(json!({"alg": "ES256"}).to_string());
    s.refused(
        "/es/a",
        &format!("{es_header}.{}.{}", relabelled[1], relabelled[2]),
        "RS256 signature labelled ES256",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_keys_are_never_used_as_hmac_secrets() {
    let s = jwt_setup().await;
    let c = claims();
    // The classic algorithm-confusion forgery: HMAC keyed with the public key the verifier holds.
    for public in [
        s.rsa.spki_pem.as_bytes().to_vec(),
        s.rsa.spki_pem.trim_end().as_bytes().to_vec(),
        pem_der(&s.rsa.spki_pem),
        s.rsa.pair.public().as_ref().to_vec(),
    ] {
        let forged = token(json!({"alg": "HS256"}), &c, Signer::Hs(&public));
        s.refused("/rs/a", &forged, "HS256 on an RS256-only route")
            .await;
        s.refused("/mixed/a", &forged, "HS256 keyed with the RSA public key")
            .await;
        s.refused("/jwks/a", &forged, "HS256 on a JWKS route").await;
    }
    // The mixed route still takes both genuine kinds.
    s.accepted("/mixed/a", &hs(&c), "genuine HS256").await;
    let rs = token(json!({"alg": "RS256"}), &c, Signer::Rs(&s.rsa.pair));
    s.accepted("/mixed/a", &rs, "genuine RS256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_keys_are_selected_by_kid() {
    let s = jwt_setup().await;
    let c = claims();
    let rs = |kid: &str| {
        token(
            json!({"alg": "RS256", "kid": kid}),
            &c,
            Signer::Rs(&s.rsa.pair),
        )
    };
    let es = |kid: &str, pair: &EcdsaKeyPair| {
        token(json!({"alg": "ES256", "kid": kid}), &c, Signer::Es(pair))
    };

    s.accepted("/jwks/a", &rs("rsa-1"), "RSA key rsa-1").await;
    s.accepted("/jwks/a", &es("ec-1", &s.ec.pair), "EC key ec-1")
        .await;
    s.accepted("/jwks/a", &es("ec-2", &s.ec_second.pair), "EC key ec-2")
        .await;
    // Without a kid, every key of the algorithm is tried.
    let no_kid = token(json!({"alg": "ES256"}), &c, Signer::Es(&s.ec_second.pair));
    s.accepted("/jwks/a", &no_kid, "no kid").await;

    s.refused(
        "/jwks/a",
        &es("ec-1", &s.ec_second.pair),
        "kid names another key",
    )
    .await;
    s.refused("/jwks/a", &es("ec-9", &s.ec.pair), "unknown kid")
        .await;
    s.refused("/jwks/a", &rs("enc-1"), "encryption key").await;
    s.refused("/jwks/a", &rs("ec-1"), "kid of a key of the other type")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_key_files_fail_the_start_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-jwks.json").display().to_string();
    let private = write(dir.path(), "private.pem", RSA_PKCS8_PEM);
    let not_jwks = write(dir.path(), "empty.json", r#"{"keys": []}"#);
    for (field, path, expected) in [
        ("jwks_file", missing.as_str(), "missing-jwks.json"),
        ("public_key_file", private.as_str(), "private key"),
        ("jwks_file", not_jwks.as_str(), "no RS256 or ES256"),
    ] {
        let yaml = format!(
            r#"
            upstreams:
              - name: echo
                targets: [{{url: "http://127.0.0.1:9"}}]
            routes:
              - {{name: r, match: {{path: /*}}, upstream: echo, policies: [rs]}}
            policies:
              - {{type: jwt, name: rs, algorithms: [RS256], {field}: "{path}"}}
            "#
        );
        let config = parse_config(&yaml, &[]);
        let error = flexgate_proxy::ProxyHandle::start(config, Default::default())
            .await
            .err()
            .expect("the proxy refuses to start")
            .to_string();
        assert!(error.contains("policies[rs]"), "{error}");
        assert!(error.contains(expected), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_pick_up_rotated_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let echo = TestUpstream::start("echo").await;
    let old = EcKey::generate();
    let new = EcKey::generate();
    let jwks = |keys: Vec<Value>| json!({ "keys": keys }).to_string();
    write(dir.path(), "jwks.json", &jwks(vec![old.jwk("old")]));
    // A relative path: resolved against the config file's directory.
    let text = crate::support::proxy::config_text(
        r#"
        upstreams:
          - name: echo
            targets: [{url: "${echo}"}]
        routes:
          - {name: r, match: {path: /*}, upstream: echo, policies: [tokens]}
        policies:
          - {type: jwt, name: tokens, algorithms: [ES256], jwks_file: jwks.json}
        "#,
        &[("echo", echo.url())],
    );
    let config_path = dir.path().join("gateway.yaml");
    std::fs::write(&config_path, text).unwrap();
    let config = flexgate_config::load_file(&config_path).unwrap().config;
    let proxy = flexgate_proxy::ProxyHandle::start(config, Default::default())
        .await
        .unwrap();
    let client = http1_client();
    let call = |token: String| {
        let req = request("GET", &proxy.url("/a"))
            .header("authorization", format!("Bearer {token}"))
            .body(empty())
            .unwrap();
        let client = client.clone();
        async move { fetch(&client, req).await.status }
    };
    let c = claims();
    let signed_by = |kid: &str, key: &EcKey| {
        token(
            json!({"alg": "ES256", "kid": kid}),
            &c,
            Signer::Es(&key.pair),
        )
    };

    assert_eq!(call(signed_by("old", &old)).await, 200);
    assert_eq!(call(signed_by("new", &new)).await, 401);

    // Rotation: publish the new key next to the old one, reload; then retire the old one.
    write(
        dir.path(),
        "jwks.json",
        &jwks(vec![old.jwk("old"), new.jwk("new")]),
    );
    proxy.reload_from_file(&config_path).unwrap();
    assert_eq!(call(signed_by("old", &old)).await, 200);
    assert_eq!(call(signed_by("new", &new)).await, 200);
    write(dir.path(), "jwks.json", &jwks(vec![new.jwk("new")]));
    proxy.reload_from_file(&config_path).unwrap();
    assert_eq!(call(signed_by("old", &old)).await, 401);
    assert_eq!(call(signed_by("new", &new)).await, 200);

    // A broken key file fails the reload; the running keys keep working.
    write(dir.path(), "jwks.json", "{not json");
    let error = proxy
        .reload_from_file(&config_path)
        .unwrap_err()
        .to_string();
    assert!(error.contains("jwks.json"), "{error}");
    assert_eq!(call(signed_by("new", &new)).await, 200);
}
