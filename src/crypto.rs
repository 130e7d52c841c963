//! Secrets at rest (AES-256-GCM), HMAC helpers and constant-time comparison.

use aes_gcm::aead::{Aead, KeyInit, OsRng, rand_core::RngCore};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Encrypts secrets and customer data for storage. The stored text form is `v1:` + base64(nonce ‖
/// ciphertext ‖ tag); the binary form (webhook bodies) is nonce ‖ ciphertext ‖ tag.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
    /// Keys the lookup hashes of phone numbers: an unkeyed hash of a ten-digit number is no secret.
    index_key: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted (wrong APP_ENCRYPTION_KEY or corrupted data)")]
pub struct DecryptError;

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Cipher { aead: Aes256Gcm::new(key.into()), index_key: hmac_sha256(key, b"codverify/phone-index/v1") }
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        format!("v1:{}", STANDARD.encode(self.encrypt_bytes(plaintext.as_bytes())))
    }

    pub fn decrypt(&self, stored: &str) -> Result<SecretString, DecryptError> {
        let b64 = stored.strip_prefix("v1:").ok_or(DecryptError)?;
        let raw = STANDARD.decode(b64).map_err(|_| DecryptError)?;
        let pt = self.decrypt_bytes(&raw)?;
        String::from_utf8(pt).map(SecretString::from).map_err(|_| DecryptError)
    }

    pub fn encrypt_bytes(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(&Nonce::from(nonce), plaintext)
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn decrypt_bytes(&self, raw: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if raw.len() < 12 + 16 {
            return Err(DecryptError);
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| DecryptError)?;
        self.aead.decrypt(&Nonce::from(nonce), ct).map_err(|_| DecryptError)
    }

    /// The plaintext of customer data kept as text (phone numbers, data-request reports). A value that is not sealed (written before encryption
    /// at rest, or redacted to a mask) is returned as it is; an undecryptable one as nothing.
    pub fn open(&self, stored: &str) -> Option<String> {
        if !stored.starts_with("v1:") {
            return Some(stored.to_string());
        }
        self.decrypt(stored).ok().map(|s| s.expose_secret().to_string())
    }

    pub fn open_opt(&self, stored: Option<&str>) -> Option<String> {
        stored.and_then(|s| self.open(s))
    }

    /// The lookup key of an E.164 phone number: a keyed hash, so equal numbers can be found
    /// without storing them in the clear.
    pub fn phone_index(&self, e164: &str) -> String {
        hex::encode(&hmac_sha256(&self.index_key, e164.as_bytes())[..16])
    }
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Checks a base64 HMAC-SHA256 of `body` (Shopify webhooks) in constant time.
pub fn verify_hmac_base64(secret: &SecretString, body: &[u8], given_b64: &str) -> bool {
    let Ok(given) = STANDARD.decode(given_b64.trim()) else {
        return false;
    };
    ct_eq(&hmac_sha256(secret.expose_secret().as_bytes(), body), &given)
}

/// `n` random bytes from the OS, URL-safe base64 without padding.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 hex digest, used to store single-use values (OAuth state) without keeping them.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let c = Cipher::new(&[7u8; 32]);
        let stored = c.encrypt("shpat_secret");
        assert!(!stored.contains("shpat"));
        assert_eq!(c.decrypt(&stored).unwrap().expose_secret(), "shpat_secret");
        assert_ne!(c.encrypt("shpat_secret"), stored, "a fresh nonce each time");
        let mut raw = STANDARD.decode(&stored[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(c.decrypt(&format!("v1:{}", STANDARD.encode(raw))).is_err());
        assert!(Cipher::new(&[8u8; 32]).decrypt(&stored).is_err());
    }

    #[test]
    fn sealed_text_bytes_and_phone_index() {
        let c = Cipher::new(&[7u8; 32]);
        let sealed = c.encrypt("+919876543210");
        assert!(!sealed.contains("9876543210"));
        assert_eq!(c.open(&sealed).as_deref(), Some("+919876543210"));
        assert_eq!(c.open("+91*****43210").as_deref(), Some("+91*****43210"), "unsealed values pass through");
        assert_eq!(Cipher::new(&[8u8; 32]).open(&sealed), None);
        let raw = c.encrypt_bytes(b"{\"phone\":\"9876543210\"}");
        assert!(!raw.windows(10).any(|w| w == b"9876543210"));
        assert_eq!(c.decrypt_bytes(&raw).unwrap(), b"{\"phone\":\"9876543210\"}");
        assert!(c.decrypt_bytes(&raw[..20]).is_err());
        let index = c.phone_index("+919876543210");
        assert_eq!(index, c.phone_index("+919876543210"));
        assert_ne!(index, c.phone_index("+919876543211"));
        assert_ne!(index, Cipher::new(&[8u8; 32]).phone_index("+919876543210"), "keyed");
        assert_eq!(index.len(), 32);
    }

    #[test]
    fn shopify_webhook_known_answer() {
        // Known answer from Shopify's documentation (reference/shopify-platform.md).
        let secret = SecretString::from("test_secret_key");
        assert!(verify_hmac_base64(
            &secret,
            br#"{"foo": "bar"}"#,
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        ));
        assert!(!verify_hmac_base64(
            &secret,
            br#"{"foo": "baz"}"#,
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        ));
        assert!(!verify_hmac_base64(&secret, br#"{"foo": "bar"}"#, "not base64!"));
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }
}
