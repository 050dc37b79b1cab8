use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// Prefix of every refresh token, so secret scanners and humans can recognise one.
const PREFIX: &str = "rt_";
/// Random bytes in a login's refresh token: 256 bits.
const TOKEN_BYTES: usize = 32;

/// A refresh token as handed to the client. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenValue(String);

impl RefreshTokenValue {
    /// Accepts a token from a request if it has our shape; `None` means it cannot be ours.
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(PREFIX)?;
        let decoded = URL_SAFE_NO_PAD.decode(body).ok()?;
        (decoded.len() == TOKEN_BYTES).then(|| Self(raw.to_owned()))
    }

    /// The token itself, to send to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hex SHA-256 of the token: the only form ever stored.
    pub fn digest(&self) -> String {
        shared::hex::lower(&Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for RefreshTokenValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshTokenValue(<redacted>)")
    }
}

/// Makes refresh tokens.
///
/// A login's first token is 256 random bits. Each successor is the HMAC of its predecessor
/// under a server key: as unguessable as random to anyone without the key, but reproducible
/// by the server. That is what lets a client that lost the answer to a refresh, or two tabs
/// refreshing at once, present the just-rotated token again within the grace interval and get
/// the session's current token back, although only digests are stored.
///
/// After the signing secret is rotated, tokens rotated just before still have successors under
/// the earlier secret's key, so the grace lookup tries those keys too.
pub struct RefreshTokens {
    /// The current key first, then those of earlier signing secrets.
    rotation_keys: Vec<Vec<u8>>,
}

impl RefreshTokens {
    /// Derives the rotation keys from the service's signing secret and the earlier ones.
    pub fn new(signing_secret: &Secret, previous_secrets: &[Secret]) -> Self {
        Self { rotation_keys: std::iter::once(signing_secret).chain(previous_secrets).map(rotation_key).collect() }
    }

    /// A new random token for a new session.
    pub fn generate(&self) -> RefreshTokenValue {
        let mut bytes = [0_u8; TOKEN_BYTES];
        OsRng.try_fill_bytes(&mut bytes).expect("the operating system's random source failed");
        RefreshTokenValue(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The token that replaces `token` when it is rotated.
    pub fn successor(&self, token: &RefreshTokenValue) -> RefreshTokenValue {
        successor_under(&self.rotation_keys[0], token)
    }

    /// The tokens that may have replaced `token`: its successor under the current key, then
    /// under each earlier one.
    pub fn possible_successors<'a>(
        &'a self,
        token: &'a RefreshTokenValue,
    ) -> impl Iterator<Item = RefreshTokenValue> + 'a {
        self.rotation_keys.iter().map(move |key| successor_under(key, token))
    }
}

/// The rotation key of a signing secret (domain-separated from its use for access tokens).
fn rotation_key(signing_secret: &Secret) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(signing_secret.expose().as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(b"refresh-token-rotation/v1");
    mac.finalize().into_bytes().to_vec()
}

fn successor_under(rotation_key: &[u8], token: &RefreshTokenValue) -> RefreshTokenValue {
    let mut mac = Hmac::<Sha256>::new_from_slice(rotation_key).expect("HMAC accepts keys of any length");
    mac.update(token.0.as_bytes());
    RefreshTokenValue(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> RefreshTokens {
        RefreshTokens::new(&Secret::new(SECRET), &[])
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const OTHER: &str = "another-secret-another-secret-xx";

    #[test]
    fn generated_tokens_are_distinct_and_parse_back() {
        let tokens = tokens();
        let (a, b) = (tokens.generate(), tokens.generate());
        assert_ne!(a, b);
        assert_eq!(RefreshTokenValue::parse(a.expose()), Some(a));
    }

    #[test]
    fn successors_are_stable_well_formed_and_depend_on_the_key() {
        let first = tokens().generate();
        let next = tokens().successor(&first);
        assert_eq!(next, tokens().successor(&first));
        assert_ne!(next, first);
        assert!(RefreshTokenValue::parse(next.expose()).is_some());
        let other = RefreshTokens::new(&Secret::new(OTHER), &[]);
        assert_ne!(other.successor(&first), next);
    }

    #[test]
    fn after_a_rotation_of_the_secret_successors_under_the_earlier_key_are_still_found() {
        let first = tokens().generate();
        let before = tokens().successor(&first);
        let rotated = RefreshTokens::new(&Secret::new(OTHER), &[Secret::new(SECRET)]);
        let candidates: Vec<_> = rotated.possible_successors(&first).collect();
        assert_eq!(candidates, [rotated.successor(&first), before], "the current key's first");
        assert_ne!(rotated.successor(&first), tokens().successor(&first), "new successors use the new key");
    }

    #[test]
    fn the_digest_is_hex_sha256_and_not_the_token() {
        let token = tokens().generate();
        let digest = token.digest();
        assert_eq!(digest.len(), 64);
        assert!(!digest.contains(token.expose()));
        // Stored digests must not change: a known token against `sha256sum`'s answer.
        let zeros = RefreshTokenValue::parse("rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("32 zero bytes");
        assert_eq!(zeros.digest(), "619682011001d94f7385b7c459e6e3b08711d130160b5e9cf037095c78f7016f");
    }

    #[test]
    fn foreign_strings_are_not_refresh_tokens() {
        for raw in ["", "rt_", "rt_abc", "xx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "rt_!!!!"] {
            assert!(RefreshTokenValue::parse(raw).is_none(), "{raw}");
        }
    }
}
