//! The master-key envelope and server key generation.
//!
//! Every key handoff keeps at rest (signing keys, webhook secrets) is sealed with the master key
//! using XChaCha20-Poly1305 with a random 192-bit nonce. The associated data names what the
//! ciphertext is, so a sealed value cannot be moved to another purpose or row.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::pkcs8::EncodePrivateKey;

use crate::secret::random_bytes;

const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes, base64-encoded")]
    BadMasterKey,
    #[error("a sealed value could not be opened: wrong master key or corrupted data")]
    Unseal,
    #[error("key generation failed")]
    KeyGeneration,
}

/// The 256-bit key that seals every other key at rest.
#[derive(Clone)]
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
    /// HMAC-SHA256 of a fixed label under the master key: the key of form tokens.
    form_key: [u8; 32],
}

impl MasterKey {
    /// Parses the configured base64 form (standard alphabet, padding optional).
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let trimmed = encoded.trim().trim_end_matches('=');
        let bytes =
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).map_err(|_| CryptoError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        Ok(Self::from_bytes(key))
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        Self { cipher: XChaCha20Poly1305::new(&key.into()), form_key: mac(&key, &[b"handoff form tokens"]) }
    }

    /// A MAC of `parts` (each length-prefixed, so no two lists of parts share one) under a key
    /// derived from the master key: the same on every node, known to no database. Hex.
    pub fn form_mac(&self, parts: &[&[u8]]) -> String {
        hex::encode(mac(&self.form_key, parts))
    }

    /// Whether `candidate` is [`MasterKey::form_mac`] of `parts` (constant time).
    pub fn form_mac_matches(&self, parts: &[&[u8]], candidate: &str) -> bool {
        let expected = self.form_mac(parts);
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), candidate.as_bytes()).into()
    }

    /// A fresh key and its base64 form, for first start without a configured key.
    pub fn generate() -> (Self, String) {
        let key = random_bytes::<32>();
        (Self::from_bytes(key), STANDARD.encode(key))
    }

    /// Seals `plaintext`; `context` must be given again to open it.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        let nonce = random_bytes::<NONCE_LEN>();
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| CryptoError::Unseal)?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| CryptoError::Unseal)
    }
}

fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::digest::KeyInit;
    use hmac::{Hmac, Mac as _};
    // HMAC pads a key shorter than its 64-byte block with zeros: the same MAC as the 32-byte key,
    // through the constructor that cannot fail.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new(&block.into());
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A new Ed25519 key pair: (PKCS#8 DER private key, raw 32-byte public key).
pub fn generate_ed25519() -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let signing = ed25519_dalek::SigningKey::from_bytes(&random_bytes::<32>());
    let der = signing.to_pkcs8_der().map_err(|_| CryptoError::KeyGeneration)?;
    Ok((der.as_bytes().to_vec(), signing.verifying_key().to_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use hmac::Mac as _;

    #[test]
    fn form_macs_are_hmac_sha256_of_length_prefixed_parts_under_a_derived_key() {
        let (master, encoded) = MasterKey::generate();
        let raw: [u8; 32] = STANDARD.decode(encoded).unwrap().try_into().unwrap();
        let reference = |key: &[u8], parts: &[&[u8]]| {
            let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key).unwrap();
            for part in parts {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        };
        let form_key = reference(&raw, &[b"handoff form tokens"]);
        let parts: [&[u8]; 2] = [b"ab", b"c"];
        let expected = hex::encode(reference(&form_key, &parts));
        assert_eq!(master.form_mac(&parts), expected);
        assert!(master.form_mac_matches(&parts, &expected));
        // Length prefixes: "ab" + "c" is not "a" + "bc".
        assert!(!master.form_mac_matches(&[b"a", b"bc"], &expected));
    }

    use super::*;

    #[test]
    fn seal_binds_context_and_key() {
        let (key, encoded) = MasterKey::generate();
        let sealed = key.seal(b"hello", "key:a").unwrap();
        assert_eq!(key.open(&sealed, "key:a").unwrap(), b"hello");
        assert!(key.open(&sealed, "key:b").is_err());
        let (other, _) = MasterKey::generate();
        assert!(other.open(&sealed, "key:a").is_err());
        assert!(MasterKey::from_base64(&encoded).unwrap().open(&sealed, "key:a").is_ok());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }
}
