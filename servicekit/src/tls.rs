//! TLS for the clients a service opens to the outside: PostgreSQL (`sslmode=require`), Redis
//! (`rediss://`) and HTTP APIs such as Stripe. One rustls stack on the aws-lc-rs provider
//! (the one lapin already builds for `amqps://`), and one rule for trust: the system's roots,
//! or only the CAs of a PEM file when a setting names one (a managed store's own CA).
//!
//! Server certificates are always verified, chain and host name, as libpq's
//! `sslmode=verify-full` does; there is no "encrypt but trust anyone" mode.

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;

/// Makes aws-lc-rs the process's rustls provider. Clients that build their own rustls
/// config (the redis crate) take the process default; installing it explicitly keeps that
/// true even if another dependency ever turns on a second provider.
pub fn install_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The certificates of a PEM file, refusing a file with none.
pub fn read_pem_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("reading CA certificates from {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no PEM certificate",
        path.display()
    );
    Ok(certs)
}

/// The roots to trust: the CAs in `ca_file` when given, else the system's.
pub fn root_store(ca_file: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in read_pem_certs(path)? {
                roots
                    .add(cert)
                    .with_context(|| format!("a certificate in {} is unusable", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "skipping an unreadable system CA certificate");
            }
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            anyhow::ensure!(
                added > 0,
                "no system CA certificates found; install ca-certificates or set a ca_file"
            );
        }
    }
    Ok(roots)
}

/// A client config that verifies servers against [`root_store`].
pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS provider supports no protocol version")?
        .with_root_certificates(root_store(ca_file)?)
        .with_no_client_auth())
}
