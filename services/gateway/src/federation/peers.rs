//! Who is calling: a peer platform is the one whose CA issued the client
//! certificate presented in the TLS handshake (and, when configured, whose
//! names it carries), never what a request says. The handshake has already
//! checked the chain against the bundle of every peer's CA and the validity
//! dates; here the chain is checked against each peer's own CA to tell them
//! apart.

use crate::config::PeerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use std::collections::HashSet;
use std::sync::Arc;

/// The operations of `sanshi.federation.v1`, each allowed per peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Ping,
    SearchExperts,
    GetProgrammeStats,
    RequestSupport,
    GetSupportRequest,
    WatchSupportRequests,
}

impl Operation {
    pub const ALL: [Operation; 6] = [
        Operation::Ping,
        Operation::SearchExperts,
        Operation::GetProgrammeStats,
        Operation::RequestSupport,
        Operation::GetSupportRequest,
        Operation::WatchSupportRequests,
    ];

    /// The RPC's name, as in the proto and in `allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Ping => "Ping",
            Operation::SearchExperts => "SearchExperts",
            Operation::GetProgrammeStats => "GetProgrammeStats",
            Operation::RequestSupport => "RequestSupport",
            Operation::GetSupportRequest => "GetSupportRequest",
            Operation::WatchSupportRequests => "WatchSupportRequests",
        }
    }

    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// A configured peer platform.
pub struct Peer {
    pub name: String,
    pub province_code: String,
    pub allowed: HashSet<Operation>,
    /// Its CA bundle (PEM), for the handshake's trust store and for calling it.
    pub ca_pem: Vec<u8>,
    /// Where we call it ("" when we do not), and the name its server certificate carries.
    pub url: String,
    pub server_name: String,
    names: Vec<ServerName<'static>>,
    verifier: Arc<dyn ClientCertVerifier>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name)
            .field("province_code", &self.province_code)
            .finish_non_exhaustive()
    }
}

impl Peer {
    pub fn allows(&self, operation: Operation) -> bool {
        self.allowed.contains(&operation)
    }

    /// Whether the chain `leaf` + `intermediates` is this peer's: issued
    /// under its CA, valid now, for client authentication, with one of its names.
    fn owns(&self, leaf: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> bool {
        if self
            .verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .is_err()
        {
            return false;
        }
        if self.names.is_empty() {
            return true;
        }
        let Ok(cert) = webpki::EndEntityCert::try_from(leaf) else {
            return false;
        };
        self.names
            .iter()
            .any(|name| cert.verify_is_valid_for_subject_name(name).is_ok())
    }
}

/// Why a call was refused before it reached an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No client certificate (only possible if the handshake let it through).
    NoCertificate,
    /// The certificate is no configured peer's.
    UnknownPeer,
    /// The peer may not call this operation.
    NotAllowed { peer: String },
}

/// The configured peers.
#[derive(Debug, Default)]
pub struct Peers {
    peers: Vec<Arc<Peer>>,
}

fn read(path: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("read {what} {path}: {e}"))
}

impl Peers {
    /// Reads each peer's CA bundle; a peer whose bundle holds no certificate is a configuration error.
    pub fn load(configs: &[PeerConfig]) -> anyhow::Result<Peers> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut peers = Vec::new();
        for c in configs {
            let ca_pem = read(&c.ca_path, &format!("the CA bundle of peer {}", c.name))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&ca_pem) {
                let cert = cert.map_err(|e| anyhow::anyhow!("peer {}: CA bundle {}: {e}", c.name, c.ca_path))?;
                roots
                    .add(cert)
                    .map_err(|e| anyhow::anyhow!("peer {}: CA bundle {}: {e}", c.name, c.ca_path))?;
            }
            anyhow::ensure!(!roots.is_empty(), "peer {}: no certificate in {}", c.name, c.ca_path);
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| anyhow::anyhow!("peer {}: {e}", c.name))?;
            let names = c
                .names
                .iter()
                .map(|n| ServerName::try_from(n.clone()).map_err(|_| anyhow::anyhow!("peer {}: bad name {n}", c.name)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let server_name = if c.server_name.is_empty() {
                host_of(&c.url).unwrap_or_default()
            } else {
                c.server_name.clone()
            };
            peers.push(Arc::new(Peer {
                name: c.name.clone(),
                province_code: c.province_code.clone(),
                allowed: c.allow.iter().filter_map(|o| Operation::parse(o)).collect(),
                ca_pem,
                url: c.url.clone(),
                server_name,
                names,
                verifier,
            }));
        }
        Ok(Peers { peers })
    }

    pub fn all(&self) -> &[Arc<Peer>] {
        &self.peers
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Peer>> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// Every peer's CA certificates in one PEM bundle: what the handshake trusts.
    pub fn bundle(&self) -> Vec<u8> {
        let mut bundle = Vec::new();
        for p in &self.peers {
            bundle.extend_from_slice(&p.ca_pem);
            bundle.push(b'\n');
        }
        bundle
    }

    /// The peer that presented `chain` (leaf first), if it may call `operation`.
    pub fn admit(&self, chain: Option<&[CertificateDer<'_>]>, operation: Operation) -> Result<Arc<Peer>, Refusal> {
        let (leaf, intermediates) = chain.and_then(|c| c.split_first()).ok_or(Refusal::NoCertificate)?;
        // Exactly one peer: a certificate two peers would accept (a shared
        // CA, a peer without names) identifies neither.
        let mut owners = self.peers.iter().filter(|p| p.owns(leaf, intermediates));
        let peer = match (owners.next(), owners.next()) {
            (Some(peer), None) => peer,
            _ => return Err(Refusal::UnknownPeer),
        };
        if !peer.allows(operation) {
            return Err(Refusal::NotAllowed {
                peer: peer.name.clone(),
            });
        }
        Ok(peer.clone())
    }
}

/// The host of `https://host:port/...`.
fn host_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    Some(host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    use kit::dev_certs::Ca;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    struct Setup {
        _dir: tempfile::TempDir,
        peers: Peers,
        sichuan: Ca,
        guizhou: Ca,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let sichuan = Ca::new("四川省三师平台 CA").unwrap();
        let guizhou = Ca::new("贵州省三师平台 CA").unwrap();
        let mut configs = Vec::new();
        for (name, code, ca, allow) in [
            ("sichuan", "51", &sichuan, vec!["Ping", "SearchExperts"]),
            ("guizhou", "52", &guizhou, vec!["Ping"]),
        ] {
            let path = dir.path().join(format!("{name}.pem"));
            std::fs::write(&path, &ca.pem).unwrap();
            configs.push(PeerConfig {
                name: name.into(),
                province_code: code.into(),
                ca_path: path.display().to_string(),
                names: vec![format!("federation.{name}.test")],
                allow: allow.into_iter().map(String::from).collect(),
                url: format!("https://federation.{name}.test:50050"),
                server_name: String::new(),
            });
        }
        Setup {
            peers: Peers::load(&configs).unwrap(),
            _dir: dir,
            sichuan,
            guizhou,
        }
    }

    #[test]
    fn a_peer_is_the_one_whose_ca_and_name_the_certificate_has() {
        let s = setup();
        let cert = der(&s.sichuan.issue("federation.sichuan.test").unwrap().cert_pem);
        let peer = s.peers.admit(Some(&[cert]), Operation::SearchExperts).unwrap();
        assert_eq!(peer.name, "sichuan");
        assert_eq!(peer.server_name, "federation.sichuan.test");
        let cert = der(&s.guizhou.issue("federation.guizhou.test").unwrap().cert_pem);
        assert_eq!(s.peers.admit(Some(&[cert]), Operation::Ping).unwrap().name, "guizhou");
    }

    #[test]
    fn refusals() {
        let s = setup();
        assert_eq!(
            s.peers.admit(None, Operation::Ping).unwrap_err(),
            Refusal::NoCertificate
        );
        // Sichuan's CA, but a name Sichuan is not known by.
        let rogue = der(&s.sichuan.issue("rogue.sichuan.test").unwrap().cert_pem);
        assert_eq!(
            s.peers.admit(Some(&[rogue]), Operation::Ping).unwrap_err(),
            Refusal::UnknownPeer
        );
        // Guizhou's name under Sichuan's CA is neither.
        let crossed = der(&s.sichuan.issue("federation.guizhou.test").unwrap().cert_pem);
        assert_eq!(
            s.peers.admit(Some(&[crossed]), Operation::Ping).unwrap_err(),
            Refusal::UnknownPeer
        );
        let stranger = Ca::new("unknown CA").unwrap();
        let foreign = der(&stranger.issue("federation.sichuan.test").unwrap().cert_pem);
        assert_eq!(
            s.peers.admit(Some(&[foreign]), Operation::Ping).unwrap_err(),
            Refusal::UnknownPeer
        );
        let expired = der(&s.sichuan.issue_expired("federation.sichuan.test").unwrap().cert_pem);
        assert_eq!(
            s.peers.admit(Some(&[expired]), Operation::Ping).unwrap_err(),
            Refusal::UnknownPeer
        );
        let guizhou = der(&s.guizhou.issue("federation.guizhou.test").unwrap().cert_pem);
        assert_eq!(
            s.peers.admit(Some(&[guizhou]), Operation::SearchExperts).unwrap_err(),
            Refusal::NotAllowed { peer: "guizhou".into() }
        );
    }

    #[test]
    fn a_certificate_two_peers_accept_identifies_neither() {
        let dir = tempfile::tempdir().unwrap();
        let national = Ca::new("全国 CA").unwrap();
        let path = dir.path().join("national.pem");
        std::fs::write(&path, &national.pem).unwrap();
        let peer = |name: &str, names: Vec<String>| PeerConfig {
            name: name.into(),
            province_code: "51".into(),
            ca_path: path.display().to_string(),
            names,
            allow: vec!["Ping".into()],
            url: String::new(),
            server_name: String::new(),
        };
        let peers = Peers::load(&[
            peer("sichuan", vec!["federation.sichuan.test".into()]),
            peer("lax", vec![]),
        ])
        .unwrap();
        let cert = der(&national.issue("federation.sichuan.test").unwrap().cert_pem);
        assert_eq!(
            peers.admit(Some(&[cert]), Operation::Ping).unwrap_err(),
            Refusal::UnknownPeer
        );
    }

    #[test]
    fn operations_and_hosts() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
        }
        assert_eq!(Operation::parse("DeleteEverything"), None);
        assert_eq!(host_of("https://a.example.cn:50050").as_deref(), Some("a.example.cn"));
        assert_eq!(host_of("https://a.example.cn/x").as_deref(), Some("a.example.cn"));
        assert_eq!(host_of("https://[::1]:50050").as_deref(), Some("::1"));
        assert_eq!(host_of("http://a"), None);
    }
}
