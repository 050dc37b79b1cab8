use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AuthError;
use crate::secret::Secret;

/// `typ` header of our access tokens (RFC 9068), so no other JWT can pass for one.
const TOKEN_TYPE: &str = "at+jwt";
/// The only algorithm accepted; the token's own `alg` is never trusted.
const ALGORITHM: Algorithm = Algorithm::HS256;
/// Shortest signing secret accepted: 256 bits, as RFC 7518 §3.2 requires for HS256.
pub const MIN_SECRET_BYTES: usize = 32;

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    /// Session id: revoking the session revokes the token.
    sid: i32,
}

/// Signs access tokens with one HMAC key and checks them with it and with the keys accepted
/// beside it during a rotation.
pub struct AccessTokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Keys accepted but never used to sign: during a rotation, the secret being replaced (or
    /// its replacement, before every replica has it), so that rotating logs nobody out.
    previous: Vec<DecodingKey>,
    header: Header,
    validation: Validation,
    issuer: String,
    audience: String,
    lifetime: TimeDelta,
}

/// A freshly signed access token.
#[derive(Debug)]
pub struct IssuedAccessToken {
    /// The compact JWT.
    pub token: Secret,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// What a valid access token says; whether its session and user are live is checked elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedAccessToken {
    /// `sub`.
    pub user_id: i32,
    /// `sid`.
    pub session_id: i32,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
}

impl AccessTokenKeys {
    /// Keys from the signing secret; the key id is given or derived from the secret's digest.
    pub fn new(
        secret: &Secret,
        key_id: Option<&str>,
        issuer: &str,
        audience: &str,
        lifetime: TimeDelta,
    ) -> Result<Self, String> {
        let bytes = key_bytes(secret)?;
        let key_id = key_id
            .map_or_else(|| Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect(), str::to_owned);
        let mut header = Header::new(ALGORITHM);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some(key_id);
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            previous: Vec::new(),
            header,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            lifetime,
        })
    }

    /// Also accepts tokens signed with these secrets (verification only).
    pub fn with_previous(mut self, secrets: &[Secret]) -> Result<Self, String> {
        for secret in secrets {
            let bytes = key_bytes(secret).map_err(|problem| format!("the previous secret: {problem}"))?;
            self.previous.push(DecodingKey::from_secret(bytes));
        }
        Ok(self)
    }

    /// How long a new access token lives.
    pub fn lifetime(&self) -> TimeDelta {
        self.lifetime
    }

    /// Signs a token for a user's session.
    pub fn issue(&self, user_id: i32, session_id: i32) -> Result<IssuedAccessToken, AuthError> {
        let now = Utc::now();
        let expires_at = now + self.lifetime;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            sid: session_id,
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.encoding)
            .map_err(|error| AuthError::Unexpected(anyhow::Error::new(error).context("signing an access token")))?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at);
        Ok(IssuedAccessToken { token: Secret::new(token), expires_at })
    }

    /// Checks the header (typ, alg), signature, issuer, audience, expiry and subject. During a
    /// rotation the key the token's `kid` names is tried first, then the others: key ids may be
    /// set by hand and stay the same across a rotation, and the signature decides in any case.
    pub fn verify(&self, token: &str) -> Result<VerifiedAccessToken, AuthError> {
        let claims = if self.previous.is_empty() {
            // One key: decoding parses the header anyway; reading the key id first would parse
            // it twice (3 % of the CPU per ValidateToken in a profile).
            self.decode(token, &self.decoding)
        } else {
            let key_id = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?.kid;
            let current = std::iter::once(&self.decoding);
            if key_id == self.header.kid {
                self.first_signer(token, current.chain(&self.previous))
            } else {
                self.first_signer(token, self.previous.iter().chain(current))
            }
        }?;
        let user_id = claims.sub.parse().map_err(|_| AuthError::InvalidToken)?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or(AuthError::InvalidToken)?;
        Ok(VerifiedAccessToken { user_id, session_id: claims.sid, expires_at })
    }

    /// The outcome with the first of `keys` that signed `token`; invalid if none did.
    fn first_signer<'a>(&self, token: &str, keys: impl Iterator<Item = &'a DecodingKey>) -> Result<Claims, AuthError> {
        keys.map(|key| self.decode(token, key))
            .find(|outcome| !matches!(outcome, Err(AuthError::InvalidToken)))
            .unwrap_or(Err(AuthError::InvalidToken))
    }

    /// The claims if `key` signed `token`, it is an access token and its claims pass validation.
    fn decode(&self, token: &str, key: &DecodingKey) -> Result<Claims, AuthError> {
        match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
            Ok(data) if is_access_token(&data.header) => Ok(data.claims),
            // Expiry is checked before the header is handed back: a signed JWT of another type
            // is invalid, expired or not.
            Err(error) if matches!(error.kind(), ErrorKind::ExpiredSignature) => {
                match jsonwebtoken::decode_header(token) {
                    Ok(header) if is_access_token(&header) => Err(AuthError::TokenExpired),
                    _ => Err(AuthError::InvalidToken),
                }
            }
            Ok(_) | Err(_) => Err(AuthError::InvalidToken),
        }
    }
}

/// Whether a JWT header is that of our access tokens (`typ`; `alg` is pinned by the validation too).
fn is_access_token(header: &Header) -> bool {
    header.alg == ALGORITHM && header.typ.as_deref() == Some(TOKEN_TYPE)
}

/// The secret's bytes, if long enough for HS256.
fn key_bytes(secret: &Secret) -> Result<&[u8], String> {
    let bytes = secret.expose().as_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(format!("a JWT signing secret must be at least {MIN_SECRET_BYTES} bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> AccessTokenKeys {
        AccessTokenKeys::new(&Secret::new(secret), None, "auth", "backends", TimeDelta::minutes(15)).unwrap()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_verifies_with_its_own_key_and_carries_user_and_session() {
        let keys = keys(SECRET);
        let issued = keys.issue(42, 7).unwrap();
        let verified = keys.verify(issued.token.expose()).unwrap();
        assert_eq!((verified.user_id, verified.session_id), (42, 7));
        assert_eq!(verified.expires_at, issued.expires_at);
    }

    #[test]
    fn a_token_signed_with_another_key_is_invalid() {
        let issued = keys("another-secret-another-secret-xx").issue(1, 1).unwrap();
        assert!(matches!(keys(SECRET).verify(issued.token.expose()), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn an_unsigned_alg_none_token_is_invalid() {
        // {"alg":"none","typ":"at+jwt"} . {"sub":"1",...} . (no signature)
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5LCJpc3MiOiJhdXRoIiwiYXVkIjoiYmFja2VuZHMiLCJzaWQiOjF9.";
        assert!(matches!(keys(SECRET).verify(token), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn an_expired_token_says_so() {
        let keys = keys(SECRET);
        let mut expired =
            AccessTokenKeys::new(&Secret::new(SECRET), None, "auth", "backends", TimeDelta::seconds(-5)).unwrap();
        expired.header = keys.header.clone();
        let issued = expired.issue(1, 1).unwrap();
        assert!(matches!(keys.verify(issued.token.expose()), Err(AuthError::TokenExpired)));
    }

    /// A token our key signed, with another `typ` (a plain JWT, as another issuer sharing the
    /// secret might make), is no access token: invalid, expired or not, with one key or two.
    #[test]
    fn a_signed_jwt_of_another_type_is_invalid_even_when_expired() {
        for lifetime in [TimeDelta::minutes(15), TimeDelta::seconds(-5)] {
            let mut other_type =
                AccessTokenKeys::new(&Secret::new(SECRET), None, "auth", "backends", lifetime).unwrap();
            other_type.header.typ = Some("JWT".to_owned());
            let token = other_type.issue(1, 1).unwrap().token;
            let rotating = keys(SECRET).with_previous(&[Secret::new("the-secret-before-the-rotation-xx")]).unwrap();
            for verifier in [&keys(SECRET), &rotating] {
                assert!(matches!(verifier.verify(token.expose()), Err(AuthError::InvalidToken)), "lifetime {lifetime}");
            }
        }
    }

    #[test]
    fn tokens_of_a_previous_secret_still_verify_and_new_ones_use_the_current_one() {
        const OLD: &str = "the-secret-before-the-rotation-xx";
        let before = keys(OLD);
        let old_token = before.issue(5, 9).unwrap();
        let rotated = keys(SECRET).with_previous(&[Secret::new(OLD)]).unwrap();
        let verified = rotated.verify(old_token.token.expose()).unwrap();
        assert_eq!((verified.user_id, verified.session_id), (5, 9));
        let new_token = rotated.issue(5, 10).unwrap();
        assert!(matches!(before.verify(new_token.token.expose()), Err(AuthError::InvalidToken)));
        assert!(keys(SECRET).verify(new_token.token.expose()).is_ok(), "signed with the current secret");
        let stranger = keys("a-secret-nobody-configured-here-x").issue(5, 9).unwrap();
        assert!(matches!(rotated.verify(stranger.token.expose()), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn a_key_id_set_by_hand_and_kept_across_the_rotation_still_finds_the_right_key() {
        const OLD: &str = "the-secret-before-the-rotation-xx";
        let with_id = |secret: &str| {
            AccessTokenKeys::new(&Secret::new(secret), Some("main"), "auth", "backends", TimeDelta::minutes(15))
                .unwrap()
        };
        let old_token = with_id(OLD).issue(1, 2).unwrap();
        let new_token = with_id(SECRET).issue(1, 3).unwrap();
        // First rollout: the old secret signs, the new one is accepted; then swapped.
        let first = with_id(OLD).with_previous(&[Secret::new(SECRET)]).unwrap();
        let second = with_id(SECRET).with_previous(&[Secret::new(OLD)]).unwrap();
        for replica in [&first, &second] {
            assert_eq!(replica.verify(old_token.token.expose()).unwrap().session_id, 2);
            assert_eq!(replica.verify(new_token.token.expose()).unwrap().session_id, 3);
        }
    }

    #[test]
    fn an_expired_token_of_a_previous_secret_says_so() {
        const OLD: &str = "the-secret-before-the-rotation-xx";
        let expired = AccessTokenKeys::new(&Secret::new(OLD), None, "auth", "backends", TimeDelta::seconds(-5))
            .unwrap()
            .issue(1, 1)
            .unwrap();
        let rotated = keys(SECRET).with_previous(&[Secret::new(OLD)]).unwrap();
        assert!(matches!(rotated.verify(expired.token.expose()), Err(AuthError::TokenExpired)));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(keys(SECRET).with_previous(&[Secret::new("short")]).is_err());
        assert!(AccessTokenKeys::new(&Secret::new("short"), None, "a", "b", TimeDelta::minutes(1)).is_err());
    }
}
