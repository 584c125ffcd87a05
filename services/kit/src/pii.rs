//! Personal data: validated types for phone and ID-card numbers and unified
//! social credit codes, and the cipher that stores them.
//!
//! Personal data is encrypted at rest (AES-256-GCM) and looked up by a keyed
//! hash (HMAC-SHA-256), so a database dump reveals neither the value nor,
//! without the hash key, a way to confirm a guess. Responses show masked values.

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    #[error("手机号码应为 11 位中国大陆手机号")]
    InvalidPhone,
    #[error("身份证号码应为 18 位，且校验位正确")]
    InvalidIdCard,
    #[error("统一社会信用代码应为 18 位，且校验位正确")]
    InvalidCreditCode,
}

/// A mainland mobile number: 11 digits starting 13–19. A leading `+86`/`86`,
/// spaces and dashes are accepted and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, PiiError> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = digits
            .strip_prefix("+86")
            .or_else(|| digits.strip_prefix("86").filter(|rest| rest.len() == 11))
            .unwrap_or(&digits);
        let b = digits.as_bytes();
        let valid = b.len() == 11 && b.iter().all(u8::is_ascii_digit) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
        if valid {
            Ok(Self(digits.to_string()))
        } else {
            Err(PiiError::InvalidPhone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****5678`
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// A resident identity card number (GB 11643): 17 digits and an ISO 7064
/// MOD 11-2 check character, with a real birth date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdCardNumber(String);

impl IdCardNumber {
    pub fn parse(input: &str) -> Result<Self, PiiError> {
        let id = input.trim().to_ascii_uppercase();
        let b = id.as_bytes();
        if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
            return Err(PiiError::InvalidIdCard);
        }
        let sum: u32 = b[..17]
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        if ID_CHECK[(sum % 11) as usize] != b[17] {
            return Err(PiiError::InvalidIdCard);
        }
        chrono::NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").map_err(|_| PiiError::InvalidIdCard)?;
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Completes 17 digits with their check character (seed and test data).
    pub fn with_check(body: &str) -> Result<Self, PiiError> {
        let b = body.as_bytes();
        if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
            return Err(PiiError::InvalidIdCard);
        }
        let sum: u32 = b.iter().zip(ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
        Self::parse(&format!("{body}{}", ID_CHECK[(sum % 11) as usize] as char))
    }

    /// `500103********123X`
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

const CREDIT_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// An employer's unified social credit code (GB 32100): 18 characters from
/// a 31-letter alphabet, the last one a MOD 31 check character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditCode(String);

impl CreditCode {
    pub fn parse(input: &str) -> Result<Self, PiiError> {
        let code = input.trim().to_ascii_uppercase();
        let b = code.as_bytes();
        if b.len() != 18 {
            return Err(PiiError::InvalidCreditCode);
        }
        let value = |c: u8| CREDIT_CHARS.iter().position(|&x| x == c).map(|p| p as u32);
        let mut sum = 0;
        for (c, w) in b[..17].iter().zip(CREDIT_WEIGHTS) {
            sum += value(*c).ok_or(PiiError::InvalidCreditCode)? * w;
        }
        let check = (31 - sum % 31) % 31;
        if value(b[17]) != Some(check) {
            return Err(PiiError::InvalidCreditCode);
        }
        Ok(Self(code))
    }

    /// Completes 17 characters with their check character (seed and test data).
    pub fn with_check(body: &str) -> Result<Self, PiiError> {
        let body = body.to_ascii_uppercase();
        let b = body.as_bytes();
        if b.len() != 17 {
            return Err(PiiError::InvalidCreditCode);
        }
        let mut sum = 0;
        for (c, w) in b.iter().zip(CREDIT_WEIGHTS) {
            sum += CREDIT_CHARS
                .iter()
                .position(|x| x == c)
                .ok_or(PiiError::InvalidCreditCode)? as u32
                * w;
        }
        let check = CREDIT_CHARS[((31 - sum % 31) % 31) as usize] as char;
        Self::parse(&format!("{body}{check}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("key is not base64 of 32 bytes")]
    BadKey,
    #[error("ciphertext does not decrypt with this key")]
    Decrypt,
}

/// Encrypts personal data at rest and computes its lookup hash.
#[derive(Clone)]
pub struct PiiCipher {
    aead: Aes256Gcm,
    hash_key: [u8; 32],
}

impl std::fmt::Debug for PiiCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiiCipher(..)")
    }
}

pub fn decode_key(b64: &str) -> Result<[u8; 32], CipherError> {
    B64.decode(b64.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(CipherError::BadKey)
}

impl PiiCipher {
    /// Both keys are base64 of 32 random bytes (`openssl rand -base64 32`).
    pub fn from_base64(encryption_key: &str, hash_key: &str) -> Result<Self, CipherError> {
        let enc = decode_key(encryption_key)?;
        Ok(Self {
            aead: Aes256Gcm::new(&enc.into()),
            hash_key: decode_key(hash_key)?,
        })
    }

    /// Random nonce followed by the ciphertext.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.aead
                .encrypt(&nonce, plaintext)
                .expect("aes-gcm encryption of an in-memory buffer cannot fail"),
        );
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CipherError> {
        if sealed.len() < 12 {
            return Err(CipherError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CipherError::Decrypt)?;
        self.aead
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| CipherError::Decrypt)
    }

    pub fn open_string(&self, sealed: &[u8]) -> Result<String, CipherError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| CipherError::Decrypt)
    }

    /// Keyed hash for equality lookups (hex HMAC-SHA-256 of `purpose:value`),
    /// so equal values of different kinds never share a hash.
    pub fn lookup_hash(&self, purpose: &str, value: &str) -> String {
        mac_hex(&self.hash_key, &[purpose.as_bytes(), value.as_bytes()])
    }
}

impl PiiCipher {
    /// A 32-byte key for `purpose`, derived from the hash key (HMAC-SHA-256),
    /// so that one configured secret can key several independent MACs.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.hash_key).expect("hmac takes any key length");
        mac.update(b"sanshi-derive:");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Hex HMAC-SHA-256 of `parts` joined by `:` under `key` (audit chains,
/// stored codes: values a database writer must not be able to forge).
pub fn mac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key length");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(b":");
        }
        mac.update(part);
    }
    hex(&mac.finalize().into_bytes())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        let p = PhoneNumber::parse("+86 138-1234-5678").unwrap();
        assert_eq!(p.as_str(), "13812345678");
        assert_eq!(p.masked(), "138****5678");
        assert_eq!(PhoneNumber::parse("8613812345678").unwrap().as_str(), "13812345678");
        for bad in [
            "",
            "1381234567",
            "12812345678",
            "23812345678",
            "1381234567a",
            "138123456789",
        ] {
            assert_eq!(PhoneNumber::parse(bad), Err(PiiError::InvalidPhone), "{bad}");
        }
    }

    #[test]
    fn id_card_check_digit_and_birth_date() {
        // GB 11643 example number.
        let id = IdCardNumber::parse("11010519491231002x").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.masked(), "110105********002X");
        assert!(IdCardNumber::parse("110105194912310021").is_err(), "wrong check digit");
        assert!(IdCardNumber::parse("1101051949123100").is_err());
    }

    #[test]
    fn id_card_rejects_impossible_dates() {
        // Same body with month 13, re-checked so only the date is wrong.
        let body = "11010519491331002";
        let sum: u32 = body.bytes().zip(ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
        let id = format!("{body}{}", ID_CHECK[(sum % 11) as usize] as char);
        assert_eq!(IdCardNumber::parse(&id), Err(PiiError::InvalidIdCard));
    }

    #[test]
    fn check_characters_are_computed() {
        assert_eq!(
            IdCardNumber::with_check("11010519491231002").unwrap().as_str(),
            "11010519491231002X"
        );
        assert_eq!(
            CreditCode::with_check("91440300708461136").unwrap().as_str(),
            "91440300708461136T"
        );
        assert!(IdCardNumber::with_check("11010519491331002").is_err(), "month 13");
        assert!(CreditCode::with_check("9144030070846113I").is_err());
    }

    #[test]
    fn credit_codes() {
        // A published code (Tencent, Shenzhen).
        assert!(CreditCode::parse("91440300708461136T").is_ok());
        assert!(CreditCode::parse("91440300708461136U").is_err());
        assert!(CreditCode::parse("9144030070846113").is_err());
        assert!(
            CreditCode::parse("9144030070846113IT").is_err(),
            "I is not in the alphabet"
        );
    }

    #[test]
    fn cipher_round_trip_and_keyed_hash() {
        let key = B64.encode([7u8; 32]);
        let other = B64.encode([9u8; 32]);
        let c = PiiCipher::from_base64(&key, &other).unwrap();
        let sealed = c.seal(b"13812345678");
        assert!(!sealed.windows(11).any(|w| w == b"13812345678"));
        assert_ne!(sealed, c.seal(b"13812345678"), "nonce is random");
        assert_eq!(c.open_string(&sealed).unwrap(), "13812345678");
        let wrong = PiiCipher::from_base64(&other, &key).unwrap();
        assert!(wrong.open(&sealed).is_err());
        assert_eq!(c.lookup_hash("phone", "1"), c.lookup_hash("phone", "1"));
        assert_ne!(c.lookup_hash("phone", "1"), c.lookup_hash("id_card", "1"));
        assert_ne!(c.lookup_hash("phone", "1"), wrong.lookup_hash("phone", "1"));
        assert!(PiiCipher::from_base64("short", &key).is_err());
    }
}
