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
pub struct MasterKey(XChaCha20Poly1305);

impl MasterKey {
    /// Parses the configured base64 form (standard alphabet, padding optional).
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let trimmed = encoded.trim().trim_end_matches('=');
        let bytes =
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).map_err(|_| CryptoError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        Ok(Self(XChaCha20Poly1305::new(&key.into())))
    }

    /// A fresh key and its base64 form, for first start without a configured key.
    pub fn generate() -> (Self, String) {
        let key = random_bytes::<32>();
        (Self(XChaCha20Poly1305::new(&key.into())), STANDARD.encode(key))
    }

    /// Seals `plaintext`; `context` must be given again to open it.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        let nonce = random_bytes::<NONCE_LEN>();
        let mut out = nonce.to_vec();
        let sealed = self
            .0
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
        self.0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| CryptoError::Unseal)
    }
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
