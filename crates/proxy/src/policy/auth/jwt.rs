//! JWT verification (JWS compact form) for HS256, RS256 and ES256.
//!
//! The token's `alg` only selects among the algorithms the operator allowed, and each algorithm
//! is verified only with its own kind of key: HS256 with the configured secret, RS256 with RSA
//! public keys, ES256 with P-256 public keys. A public key can therefore never be used as an
//! HMAC secret (the classic algorithm-confusion attack), and `none` is never accepted.
//!
//! Keys are read once when the config version is built: a PEM public key (`PUBLIC KEY` or
//! `RSA PUBLIC KEY`) and/or a JWKS file whose `kid`s select keys.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::{hmac, signature};
use serde::Deserialize;
use serde_json::Value;

use flexgate_config::{JwtAlgorithm, JwtPolicy};

/// Why a token was refused (logged as the `auth.failure` reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    Malformed,
    AlgorithmNotAllowed,
    UnsupportedCriticalHeader,
    UnknownKeyId,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
}

impl Failure {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Failure::Malformed => "malformed token",
            Failure::AlgorithmNotAllowed => "algorithm not allowed",
            Failure::UnsupportedCriticalHeader => "unsupported critical header",
            Failure::UnknownKeyId => "unknown key id",
            Failure::BadSignature => "bad signature",
            Failure::Expired => "expired",
            Failure::NotYetValid => "not yet valid",
            Failure::WrongIssuer => "wrong issuer",
            Failure::WrongAudience => "wrong audience",
        }
    }
}

/// A public key for one asymmetric algorithm.
struct PublicKey {
    kid: Option<String>,
    material: Material,
}

enum Material {
    /// RSA modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (`04 || x || y`).
    P256(Vec<u8>),
}

impl Material {
    fn algorithm(&self) -> JwtAlgorithm {
        match self {
            Material::Rsa { .. } => JwtAlgorithm::RS256,
            Material::P256(_) => JwtAlgorithm::ES256,
        }
    }

    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            Material::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            Material::P256(point) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }
}

/// Everything needed to check a token, fixed for one config version.
pub(super) struct Verifier {
    algorithms: Vec<JwtAlgorithm>,
    hmac: Option<hmac::Key>,
    keys: Vec<PublicKey>,
    issuer: Option<String>,
    audiences: Vec<String>,
    leeway: f64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

impl Verifier {
    /// Reads the keys; errors name the file and what is wrong with it.
    pub(super) fn build(spec: &JwtPolicy) -> Result<Verifier, String> {
        let allowed = |alg| spec.algorithms.contains(&alg);
        // The secret becomes a key only when HS256 is allowed, so it can never verify anything
        // else.
        let hmac = if allowed(JwtAlgorithm::HS256) {
            match spec.secret.as_deref() {
                Some(secret) if !secret.is_empty() => {
                    Some(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()))
                }
                _ => return Err("HS256 is allowed but `secret` is not set".into()),
            }
        } else {
            None
        };
        let mut keys = Vec::new();
        if let Some(path) = &spec.public_key_file {
            keys.extend(read_pem_keys(path)?);
        }
        if let Some(path) = &spec.jwks_file {
            keys.extend(read_jwks(path)?);
        }
        // Keys for algorithms the operator did not allow can never verify anything.
        keys.retain(|k| allowed(k.material.algorithm()));
        for alg in [JwtAlgorithm::RS256, JwtAlgorithm::ES256] {
            if allowed(alg) && !keys.iter().any(|k| k.material.algorithm() == alg) {
                return Err(format!(
                    "{alg:?} is allowed but no {} public key was found in `public_key_file` or `jwks_file`",
                    if alg == JwtAlgorithm::RS256 { "RSA" } else { "P-256" }
                ));
            }
        }
        Ok(Verifier {
            algorithms: spec.algorithms.clone(),
            hmac,
            keys,
            issuer: spec.issuer.clone(),
            audiences: spec.audiences.clone(),
            leeway: spec.leeway.get().as_secs_f64(),
        })
    }

    /// Checks `token` at time `now` (seconds since the epoch): signature first, then claims, so
    /// nothing from an unverified token is ever trusted.
    pub(super) fn verify(&self, token: &str, now: f64) -> Result<(), Failure> {
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(Failure::Malformed);
        };
        let header: Header = decode_json(header_b64)?;
        if header.crit.is_some() {
            // No extension is understood, and RFC 7515 §4.1.11 requires refusing what is not.
            return Err(Failure::UnsupportedCriticalHeader);
        }
        let alg = match header.alg.as_str() {
            "HS256" => JwtAlgorithm::HS256,
            "RS256" => JwtAlgorithm::RS256,
            "ES256" => JwtAlgorithm::ES256,
            _ => return Err(Failure::AlgorithmNotAllowed),
        };
        if !self.algorithms.contains(&alg) {
            return Err(Failure::AlgorithmNotAllowed);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(sig_b64)
            .map_err(|_| Failure::Malformed)?;
        let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        self.verify_signature(alg, header.kid.as_deref(), signed, &sig)?;
        let claims: Value = decode_json(payload_b64)?;
        self.check_claims(&claims, now)
    }

    fn verify_signature(
        &self,
        alg: JwtAlgorithm,
        kid: Option<&str>,
        signed: &[u8],
        sig: &[u8],
    ) -> Result<(), Failure> {
        if alg == JwtAlgorithm::HS256 {
            let key = self.hmac.as_ref().ok_or(Failure::AlgorithmNotAllowed)?;
            // `hmac::verify` compares in constant time.
            return hmac::verify(key, signed, sig).map_err(|_| Failure::BadSignature);
        }
        // A key without a `kid` (from a PEM file) may verify any token; a token's `kid` selects
        // among the keys that have one.
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.material.algorithm() == alg)
            .filter(|k| match (kid, k.kid.as_deref()) {
                (Some(wanted), Some(have)) => wanted == have,
                _ => true,
            })
            .peekable();
        if candidates.peek().is_none() {
            return Err(Failure::UnknownKeyId);
        }
        if candidates.any(|k| k.material.verify(signed, sig)) {
            Ok(())
        } else {
            Err(Failure::BadSignature)
        }
    }

    fn check_claims(&self, claims: &Value, now: f64) -> Result<(), Failure> {
        let claims = claims.as_object().ok_or(Failure::Malformed)?;
        let time = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(value) => value.as_f64().map(Some).ok_or(Failure::Malformed),
        };
        if let Some(exp) = time("exp")? {
            // RFC 7519 §4.1.4: the token is valid only *before* `exp`.
            if now >= exp + self.leeway {
                return Err(Failure::Expired);
            }
        }
        if let Some(nbf) = time("nbf")? {
            if now + self.leeway < nbf {
                return Err(Failure::NotYetValid);
            }
        }
        if let Some(issuer) = &self.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err(Failure::WrongIssuer);
            }
        }
        if !self.audiences.is_empty() {
            let accepted = |aud: &str| self.audiences.iter().any(|a| a == aud);
            let ok = match claims.get("aud") {
                Some(Value::String(aud)) => accepted(aud),
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(accepted),
                _ => false,
            };
            if !ok {
                return Err(Failure::WrongAudience);
            }
        }
        Ok(())
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, Failure> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Failure::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Failure::Malformed)
}

fn read_file(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{what} `{}`: {e}", path.display()))
}

/// Every public key in a PEM file.
fn read_pem_keys(path: &Path) -> Result<Vec<PublicKey>, String> {
    let text = read_file(path, "public_key_file")?;
    let fail = |why: String| format!("public_key_file `{}`: {why}", path.display());
    let mut keys = Vec::new();
    for (label, der) in pem_blocks(&text).map_err(fail)? {
        let material = match label.as_str() {
            "PUBLIC KEY" => parse_spki(&der),
            "RSA PUBLIC KEY" => parse_rsa_public_key(&der),
            other if other.contains("PRIVATE KEY") => {
                return Err(fail(
                    "holds a private key; give the public key only (`openssl pkey -pubout`)".into(),
                ))
            }
            _ => continue,
        }
        .map_err(fail)?;
        keys.push(PublicKey {
            kid: None,
            material,
        });
    }
    if keys.is_empty() {
        return Err(fail(
            "no `PUBLIC KEY` or `RSA PUBLIC KEY` PEM block found".into(),
        ));
    }
    Ok(keys)
}

/// `(label, DER)` of each PEM block.
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            open = Some((label.to_owned(), String::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            match open.take() {
                Some((begun, body)) if begun == label => {
                    let der = STANDARD
                        .decode(body)
                        .map_err(|_| format!("the `{label}` block is not valid base64"))?;
                    blocks.push((begun, der));
                }
                _ => return Err(format!("`END {label}` without a matching BEGIN")),
            }
        } else if let Some((_, body)) = &mut open {
            body.push_str(line);
        }
    }
    if let Some((label, _)) = open {
        return Err(format!("the `{label}` block has no END line"));
    }
    Ok(blocks)
}

/// DER tags used in public keys.
const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
/// 1.2.840.113549.1.1.1
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 (P-256)
const OID_PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// A reader of the few DER shapes public keys use: no indefinite lengths, lengths up to 4 bytes.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn read(&mut self, tag: u8) -> Result<&'a [u8], String> {
        let malformed = || "malformed DER in the key".to_owned();
        let (&found, rest) = self.0.split_first().ok_or_else(malformed)?;
        if found != tag {
            return Err(malformed());
        }
        let (&first, mut rest) = rest.split_first().ok_or_else(malformed)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return Err(malformed());
            }
            let (len_bytes, after) = rest.split_at(count);
            rest = after;
            len_bytes
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b))
        };
        if rest.len() < len {
            return Err(malformed());
        }
        let (content, after) = rest.split_at(len);
        self.0 = after;
        Ok(content)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// SubjectPublicKeyInfo: `SEQUENCE { SEQUENCE { algorithm OID, parameters }, BIT STRING key }`.
fn parse_spki(der: &[u8]) -> Result<Material, String> {
    let mut outer = Der(der);
    let mut spki = Der(outer.read(SEQUENCE)?);
    let mut algorithm = Der(spki.read(SEQUENCE)?);
    let oid = algorithm.read(OID)?;
    let bits = spki.read(BIT_STRING)?;
    // The first content byte counts unused bits, always 0 for a key.
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err("malformed DER in the key".into()),
    };
    if oid == OID_RSA_ENCRYPTION {
        parse_rsa_public_key(key)
    } else if oid == OID_EC_PUBLIC_KEY {
        if algorithm.read(OID)? != OID_PRIME256V1 {
            return Err("only P-256 EC keys are supported (ES256)".into());
        }
        p256_point(key.to_vec())
    } else {
        Err("not an RSA or EC public key".into())
    }
}

/// PKCS#1 RSAPublicKey: `SEQUENCE { INTEGER n, INTEGER e }`.
fn parse_rsa_public_key(der: &[u8]) -> Result<Material, String> {
    let mut outer = Der(der);
    let mut seq = Der(outer.read(SEQUENCE)?);
    let n = seq.read(INTEGER)?;
    let e = seq.read(INTEGER)?;
    if !seq.is_empty() || !outer.is_empty() {
        return Err("malformed DER in the key".into());
    }
    rsa_material(n, e)
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

/// Checks the size ring will accept (2048 to 8192 bits), so a short key fails the build, not
/// every request.
fn rsa_material(n: &[u8], e: &[u8]) -> Result<Material, String> {
    let n = strip_zeros(n);
    let e = strip_zeros(e);
    if n.len() < 256 || n.len() > 1024 {
        return Err(format!(
            "RSA keys must have 2048 to 8192 bits (this one has {})",
            n.len() * 8
        ));
    }
    if e.is_empty() {
        return Err("the RSA exponent is zero".into());
    }
    Ok(Material::Rsa { n, e })
}

fn p256_point(point: Vec<u8>) -> Result<Material, String> {
    if point.len() != 65 || point[0] != 0x04 {
        return Err("the P-256 key is not an uncompressed point".into());
    }
    Ok(Material::P256(point))
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// The signature keys of a JWKS file. Keys this gateway cannot use (encryption keys, other key
/// types, curves and algorithms) are skipped, as JWKS consumers are expected to.
fn read_jwks(path: &Path) -> Result<Vec<PublicKey>, String> {
    let text = read_file(path, "jwks_file")?;
    let fail = |why: String| format!("jwks_file `{}`: {why}", path.display());
    let jwks: Jwks =
        serde_json::from_str(&text).map_err(|e| fail(format!("not a JWKS document: {e}")))?;
    let mut keys = Vec::new();
    for (i, jwk) in jwks.keys.iter().enumerate() {
        let name = match &jwk.kid {
            Some(kid) => format!("key `{kid}`"),
            None => format!("keys[{i}]"),
        };
        let field = |value: &Option<String>, field: &str| {
            let text = value
                .as_deref()
                .ok_or_else(|| fail(format!("{name} has no `{field}`")))?;
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| fail(format!("{name}: `{field}` is not base64url")))
        };
        if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let material = match (jwk.kty.as_str(), jwk.alg.as_deref()) {
            ("RSA", None | Some("RS256")) => {
                rsa_material(&field(&jwk.n, "n")?, &field(&jwk.e, "e")?)
                    .map_err(|e| fail(format!("{name}: {e}")))?
            }
            ("EC", None | Some("ES256")) if jwk.crv.as_deref() == Some("P-256") => {
                let (x, y) = (field(&jwk.x, "x")?, field(&jwk.y, "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(fail(format!("{name}: `x` and `y` must be 32 bytes each")));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                p256_point(point).map_err(|e| fail(format!("{name}: {e}")))?
            }
            _ => continue,
        };
        keys.push(PublicKey {
            kid: jwk.kid.clone(),
            material,
        });
    }
    if keys.is_empty() {
        return Err(fail("has no RS256 or ES256 signature key".into()));
    }
    Ok(keys)
}

#[allow(clippy::unwrap_used)]
#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(algorithms: &[JwtAlgorithm]) -> Verifier {
        Verifier {
            algorithms: algorithms.to_vec(),
            hmac: Some(hmac::Key::new(hmac::HMAC_SHA256, b"secret")),
            keys: Vec::new(),
            issuer: Some("https://issuer.example".into()),
            audiences: vec!["api".into(), "admin".into()],
            leeway: 30.0,
        }
    }

    fn hs256(header: &str, claims: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret");
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let tag = hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn claims_are_checked_after_the_signature() {
        let v = verifier(&[JwtAlgorithm::HS256]);
        let good = r#"{"iss":"https://issuer.example","aud":["x","api"],"exp":1000,"nbf":900}"#;
        assert_eq!(v.verify(&hs256(HEADER, good), 950.0), Ok(()));
        assert_eq!(v.verify(&hs256(HEADER, good), 1029.0), Ok(()), "leeway");
        assert_eq!(
            v.verify(&hs256(HEADER, good), 1030.0),
            Err(Failure::Expired)
        );
        assert_eq!(
            v.verify(&hs256(HEADER, good), 869.0),
            Err(Failure::NotYetValid)
        );
        let wrong_aud = r#"{"iss":"https://issuer.example","aud":"other"}"#;
        assert_eq!(
            v.verify(&hs256(HEADER, wrong_aud), 0.0),
            Err(Failure::WrongAudience)
        );
        let no_iss = r#"{"aud":"api"}"#;
        assert_eq!(
            v.verify(&hs256(HEADER, no_iss), 0.0),
            Err(Failure::WrongIssuer)
        );
        let bad_exp = r#"{"iss":"https://issuer.example","aud":"api","exp":"soon"}"#;
        assert_eq!(
            v.verify(&hs256(HEADER, bad_exp), 0.0),
            Err(Failure::Malformed)
        );
    }

    #[test]
    fn headers_and_shapes() {
        let v = verifier(&[JwtAlgorithm::HS256]);
        let claims = r#"{"iss":"https://issuer.example","aud":"api"}"#;
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        );
        assert_eq!(v.verify(&none, 0.0), Err(Failure::AlgorithmNotAllowed));
        let crit = hs256(r#"{"alg":"HS256","crit":["b64"],"b64":false}"#, claims);
        assert_eq!(
            v.verify(&crit, 0.0),
            Err(Failure::UnsupportedCriticalHeader)
        );
        assert_eq!(v.verify("a.b", 0.0), Err(Failure::Malformed));
        assert_eq!(v.verify("a.b.c.d", 0.0), Err(Failure::Malformed));
        let mut tampered = hs256(HEADER, claims);
        tampered.push('A');
        assert!(v.verify(&tampered, 0.0).is_err());
        let rs_only = verifier(&[JwtAlgorithm::RS256]);
        assert_eq!(
            rs_only.verify(&hs256(HEADER, claims), 0.0),
            Err(Failure::AlgorithmNotAllowed)
        );
    }

    #[test]
    fn pem_and_der() {
        let blocks =
            pem_blocks("junk\n-----BEGIN PUBLIC KEY-----\nAQID\n-----END PUBLIC KEY-----\n")
                .unwrap();
        assert_eq!(blocks, vec![("PUBLIC KEY".to_owned(), vec![1, 2, 3])]);
        assert!(pem_blocks("-----BEGIN PUBLIC KEY-----\nAQID\n").is_err());
        // A long-form length (0x81) and a truncated value.
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        assert_eq!(Der(&long).read(0x04).unwrap().len(), 0x80);
        assert!(Der(&[0x04, 0x05, 1, 2]).read(0x04).is_err());
        assert!(Der(&[0x30, 0x80]).read(0x30).is_err(), "indefinite length");
    }
}
