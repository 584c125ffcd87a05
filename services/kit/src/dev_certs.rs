//! Certificates made on the spot (rcgen), for tests and `sanshi dev` only:
//! a CA per platform, and the certificates it issues, valid, expired or for
//! any name. Production certificates come from the operators' PKI.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate authority, kept in memory.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate (PEM): what peers put in their CA bundle.
    pub pem: String,
}

/// A certificate and its private key (PEM), usable as server and as client.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(common_name: &str) -> Result<Ca, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key)?.pem();
        Ok(Ca {
            issuer: Issuer::new(params, key),
            pem,
        })
    }

    /// A certificate for `dns_name`, valid now.
    pub fn issue(&self, dns_name: &str) -> Result<Issued, rcgen::Error> {
        self.issue_with(dns_name, false)
    }

    /// A certificate for `dns_name` that expired in 2021.
    pub fn issue_expired(&self, dns_name: &str) -> Result<Issued, rcgen::Error> {
        self.issue_with(dns_name, true)
    }

    fn issue_with(&self, dns_name: &str, expired: bool) -> Result<Issued, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![dns_name.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, dns_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}
