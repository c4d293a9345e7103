//! TLS for both sides, with rustls and the `ring` provider.
//!
//! Downstream: an SNI resolver over the listener's certificates (explicit `server_names`, or the
//! names inside each certificate), ALPN `h2`/`http/1.1`. The resolver is rebuilt with every config
//! version, so renewed certificate files are picked up by a reload without dropping connections.
//! Upstream: a client config per upstream with system or custom roots, optional client certificate.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use flexgate_config::{CertificateFiles, ListenerTls, UpstreamProtocol, UpstreamTls};

/// A TLS setting could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the material.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |reason: String| TlsError::File {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error("no PEM certificate found".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        reason: format!("no usable private key: {e}"),
    })
}

/// One certificate with the names it answers for.
struct SniEntry {
    key: Arc<CertifiedKey>,
    /// Lower-case names from the config; empty means "the names in the certificate".
    names: Vec<String>,
}

/// Picks the certificate for a TLS handshake by SNI.
pub struct SniResolver {
    entries: Vec<SniEntry>,
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field("certificates", &self.entries.len())
            .finish()
    }
}

fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
    }
}

impl SniResolver {
    /// Loads every certificate of a listener.
    pub fn load(tls: &ListenerTls) -> Result<SniResolver, TlsError> {
        let provider = provider();
        let entries = tls
            .certificates
            .iter()
            .map(|c| load_entry(c, &provider))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SniResolver { entries })
    }

    fn pick(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(sni) = sni {
            let sni = sni.trim_end_matches('.').to_ascii_lowercase();
            for entry in &self.entries {
                let hit = if entry.names.is_empty() {
                    certificate_covers(&entry.key, &sni)
                } else {
                    entry.names.iter().any(|p| name_matches(p, &sni))
                };
                if hit {
                    return Some(entry.key.clone());
                }
            }
        }
        self.entries.first().map(|e| e.key.clone())
    }
}

fn load_entry(files: &CertificateFiles, provider: &CryptoProvider) -> Result<SniEntry, TlsError> {
    let certs = read_certs(&files.cert_file)?;
    let key = read_key(&files.key_file)?;
    let key = CertifiedKey::from_der(certs, key, provider).map_err(|e| TlsError::File {
        path: files.key_file.display().to_string(),
        reason: format!("key does not fit {}: {e}", files.cert_file.display()),
    })?;
    Ok(SniEntry {
        key: Arc::new(key),
        names: files
            .server_names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect(),
    })
}

/// Whether the leaf certificate is valid for `name` (its SAN DNS names, wildcards included).
fn certificate_covers(key: &CertifiedKey, name: &str) -> bool {
    let Some(leaf) = key.cert.first() else {
        return false;
    };
    let Ok(server_name) = ServerName::try_from(name) else {
        return false;
    };
    webpki::EndEntityCert::try_from(leaf)
        .map(|cert| cert.verify_is_valid_for_subject_name(&server_name).is_ok())
        .unwrap_or(false)
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.pick(client_hello.server_name())
    }
}

/// The rustls server config of an HTTPS listener.
pub fn server_config(tls: &ListenerTls, http2: bool) -> Result<Arc<ServerConfig>, TlsError> {
    let resolver = SniResolver::load(tls)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

/// The rustls client config for an upstream's `https://` targets.
pub fn client_config(
    tls: Option<&UpstreamTls>,
    protocol: UpstreamProtocol,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match tls.and_then(|t| t.ca_file.as_deref()) {
        Some(ca_file) => {
            for cert in read_certs(ca_file)? {
                roots.add(cert).map_err(|e| TlsError::File {
                    path: ca_file.display().to_string(),
                    reason: format!("invalid CA certificate: {e}"),
                })?;
            }
        }
        None => {
            // Unreadable entries in the system store are skipped: one bad file in
            // /etc/ssl/certs must not take every upstream down.
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match tls.map(|t| (&t.client_cert_file, &t.client_key_file)) {
        Some((Some(cert), Some(key))) => {
            builder.with_client_auth_cert(read_certs(cert)?, read_key(key)?)?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match protocol {
        UpstreamProtocol::Http2 => vec![b"h2".to_vec()],
        UpstreamProtocol::Http1 => vec![b"http/1.1".to_vec()],
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcard_names_cover_exactly_one_label() {
        assert!(name_matches("*.example.com", "api.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches("api.example.com", "api.example.com"));
    }
}
