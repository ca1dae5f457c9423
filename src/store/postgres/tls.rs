//! TLS to Postgres with rustls, configured the way libpq reads it from the
//! connection string: `sslmode` (`disable`, `prefer`, `require`,
//! `verify-ca`, `verify-full`), `sslrootcert` (a PEM file, or `system`),
//! `sslcert` and `sslkey` (a client certificate).
//!
//! The driver (tokio-postgres) knows only `disable`, `prefer` and `require`
//! and refuses the other keys, so they are taken out of the string here and
//! turned into a rustls client configuration:
//!
//! - `prefer` (the default) and `require` encrypt without checking the
//!   server's certificate, as libpq does; `prefer` uses TLS whenever the
//!   server offers it and plaintext only when it does not.
//! - `verify-ca` checks the chain against the roots, `verify-full` the
//!   chain and the host name.
//! - With `sslrootcert` given, `require` checks the chain too (libpq's rule).
//!
//! Roots are `sslrootcert`'s file, else the system's.

use std::sync::Arc;

use postgres::config::SslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypted, certificate not checked (`prefer`, `require`).
    Nothing,
    /// The chain, not the host name (`verify-ca`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// A connection string parsed for the driver, and the TLS to connect with.
pub struct PgTarget {
    pub config: postgres::Config,
    pub tls: MakeRustlsConnect,
    pub verify: Verify,
}

/// Parses a libpq connection string (URL or `key=value` form).
pub fn target(url: &str) -> Result<PgTarget, String> {
    let (rest, ssl) = split_ssl_options(url);
    let mut config: postgres::Config = rest.parse().map_err(|e| format!("{e}"))?;
    let mode = ssl.mode.as_deref().unwrap_or("prefer");
    let (driver_mode, mut verify) = match mode {
        "disable" => (SslMode::Disable, Verify::Nothing),
        "prefer" => (SslMode::Prefer, Verify::Nothing),
        "require" => (SslMode::Require, Verify::Nothing),
        "verify-ca" => (SslMode::Require, Verify::Chain),
        "verify-full" => (SslMode::Require, Verify::Full),
        "allow" => {
            return Err(
                "sslmode=allow is not supported: use prefer (TLS when offered) or disable".into(),
            )
        }
        other => {
            return Err(format!(
                "invalid sslmode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
            ))
        }
    };
    if ssl.root_cert.is_some() && verify == Verify::Nothing && driver_mode == SslMode::Require {
        verify = Verify::Chain;
    }
    config.ssl_mode(driver_mode);
    let client = client_config(&ssl, verify)?;
    Ok(PgTarget {
        config,
        tls: MakeRustlsConnect::new(client),
        verify,
    })
}

#[derive(Debug, Default)]
struct SslOptions {
    mode: Option<String>,
    root_cert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

impl SslOptions {
    /// Takes `key` if it is one of ours.
    fn take(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "sslmode" => &mut self.mode,
            "sslrootcert" => &mut self.root_cert,
            "sslcert" => &mut self.cert,
            "sslkey" => &mut self.key,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// The connection string without the TLS keys, and those keys.
fn split_ssl_options(url: &str) -> (String, SslOptions) {
    let mut ssl = SslOptions::default();
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), ssl);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !ssl.take(key, percent_decode(value))
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, ssl);
    }
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            !ssl.take(key.trim(), value.trim_matches('\'').to_string())
        })
        .collect();
    (kept.join(" "), ssl)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(ssl: &SslOptions, verify: Verify) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = match verify {
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider))),
        Verify::Chain | Verify::Full => {
            let roots = Arc::new(roots(ssl.root_cert.as_deref())?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("TLS roots: {e}"))?;
            if verify == Verify::Full {
                builder.with_webpki_verifier(webpki)
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
            }
        }
    };
    match (&ssl.cert, &ssl.key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslcert {cert}: {e}"))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("sslkey {key}: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("sslcert/sslkey: {e}"))
        }
        _ => Err("sslcert and sslkey go together: give both or neither".into()),
    }
}

/// `sslrootcert`'s certificates, or the system's (`system` or unset).
fn roots(root_cert: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) if path != "system" => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?
            {
                let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    if roots.is_empty() {
        return Err("no root certificates to verify the server with (sslrootcert)".into());
    }
    Ok(roots)
}

/// `verify-ca`: the chain must lead to a root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer`/`require`: encrypted, the certificate taken as presented
/// (libpq's meaning of these modes); the handshake's signatures still hold.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_keys_leave_the_url_and_the_rest_stays() {
        let (rest, ssl) = split_ssl_options(
            "postgres://u@h/db?sslmode=verify-full&options=-csearch_path%3Dx&sslrootcert=%2Ftmp%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u@h/db?options=-csearch_path%3Dx");
        assert_eq!(ssl.mode.as_deref(), Some("verify-full"));
        assert_eq!(ssl.root_cert.as_deref(), Some("/tmp/ca.pem"));
        let (rest, ssl) = split_ssl_options("host=h user=u sslmode=require");
        assert_eq!(rest, "host=h user=u");
        assert_eq!(ssl.mode.as_deref(), Some("require"));
    }

    #[test]
    fn unknown_modes_are_refused_by_name() {
        let error = target("postgres://u@h/db?sslmode=verify").err().unwrap();
        assert!(error.contains("invalid sslmode"), "{error}");
        let error = target("postgres://u@h/db?sslmode=allow").err().unwrap();
        assert!(error.contains("allow"), "{error}");
    }

    #[test]
    fn a_root_file_makes_require_check_the_chain() {
        let error = target("postgres://u@h/db?sslmode=require&sslrootcert=/nonexistent.pem")
            .err()
            .unwrap();
        assert!(error.contains("sslrootcert /nonexistent.pem"), "{error}");
        assert_eq!(
            target("postgres://u@h/db?sslmode=require").unwrap().verify,
            Verify::Nothing
        );
    }
}
