//! Authentication: access JWTs, password hashing, opaque tokens, and the `AuthUser` extractor.

mod extract;
pub mod jwt;
pub mod password;

pub use extract::AuthUser;

use rand::distr::Alphanumeric;
use rand::RngExt;
use sha2::{Digest, Sha256};

/// A random URL-safe token of `len` characters from the OS-seeded CSPRNG.
pub fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// SHA-256 hex of a high-entropy token (refresh tokens, API keys). Such tokens need no
/// slow hash: they are random, not guessable passwords.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
