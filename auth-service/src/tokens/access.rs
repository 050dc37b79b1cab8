use std::borrow::Cow;

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{EncodingKey, Header};
use sha2::{Digest, Sha256};

use super::claims::{ALGORITHM, Audience, Claims, ReadHeader, TOKEN_TYPE};
use super::jws::{CompactJws, Hs256Key};
use crate::error::AuthError;
use crate::secret::Secret;

/// Shortest signing secret accepted: 256 bits, as RFC 7518 §3.2 requires for HS256.
pub const MIN_SECRET_BYTES: usize = 32;

/// Signs access tokens with one HMAC key and checks them with it and with the keys accepted
/// beside it during a rotation.
pub struct AccessTokenKeys {
    encoding: EncodingKey,
    verifying: Hs256Key,
    /// Keys accepted but never used to sign: during a rotation, the secret being replaced (or
    /// its replacement, before every replica has it), so that rotating logs nobody out.
    previous: Vec<Hs256Key>,
    header: Header,
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
        let key_id = key_id.map_or_else(|| shared::hex::lower(&Sha256::digest(bytes)[..8]), str::to_owned);
        let mut header = Header::new(ALGORITHM);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some(key_id);
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes),
            verifying: Hs256Key::new(bytes),
            previous: Vec::new(),
            header,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            lifetime,
        })
    }

    /// Also accepts tokens signed with these secrets (verification only).
    pub fn with_previous(mut self, secrets: &[Secret]) -> Result<Self, String> {
        for secret in secrets {
            let bytes = key_bytes(secret).map_err(|problem| format!("the previous secret: {problem}"))?;
            self.previous.push(Hs256Key::new(bytes));
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
            iss: Cow::Borrowed(&self.issuer),
            aud: Audience::One(Cow::Borrowed(&self.audience)),
            sub: Cow::Owned(user_id.to_string()),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            nbf: None,
            sid: session_id,
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.encoding)
            .map_err(|error| AuthError::Unexpected(anyhow::Error::new(error).context("signing an access token")))?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at);
        Ok(IssuedAccessToken { token: Secret::new(token), expires_at })
    }

    /// Checks the header (`typ`, `alg`, no `crit`), the signature, then the issuer, audience,
    /// subject, not-before and expiry: a token signed by us but of another type or for another
    /// audience is invalid, expired or not. During a rotation the key the token's `kid` names
    /// is tried first, then the others: key ids may be set by hand and stay the same across a
    /// rotation, and the signature decides in any case.
    pub fn verify(&self, token: &str) -> Result<VerifiedAccessToken, AuthError> {
        let jws = CompactJws::parse(token).ok_or(AuthError::InvalidToken)?;
        let header_json = jws.header_json().ok_or(AuthError::InvalidToken)?;
        let header: ReadHeader = serde_json::from_slice(&header_json).map_err(|_| AuthError::InvalidToken)?;
        if !header.is_access_token() || !self.one_of_our_keys_signed(&jws, header.kid.as_deref()) {
            return Err(AuthError::InvalidToken);
        }
        let payload_json = jws.payload_json().ok_or(AuthError::InvalidToken)?;
        let claims: Claims = serde_json::from_slice(&payload_json).map_err(|_| AuthError::InvalidToken)?;
        if claims.iss != self.issuer || !claims.aud.includes(&self.audience) {
            return Err(AuthError::InvalidToken);
        }
        let user_id = claims.sub.parse().map_err(|_| AuthError::InvalidToken)?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or(AuthError::InvalidToken)?;
        let now = Utc::now().timestamp();
        if claims.nbf.is_some_and(|not_before| not_before > now) {
            return Err(AuthError::InvalidToken);
        }
        // RFC 7519 §4.1.4: not accepted on or after its expiry.
        if claims.exp <= now {
            return Err(AuthError::TokenExpired);
        }
        Ok(VerifiedAccessToken { user_id, session_id: claims.sid, expires_at })
    }

    /// Whether the signing key or one accepted beside it signed `jws`, trying first the one
    /// `key_id` names.
    fn one_of_our_keys_signed(&self, jws: &CompactJws, key_id: Option<&str>) -> bool {
        let current = std::iter::once(&self.verifying);
        if key_id == self.header.kid.as_deref() {
            current.chain(&self.previous).any(|key| jws.is_signed_by(key))
        } else {
            self.previous.iter().chain(current).any(|key| jws.is_signed_by(key))
        }
    }
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

    /// A token with `claims` (JSON) and `header` signed with `secret` by jsonwebtoken.
    fn signed_by_hand(header: &Header, claims: &serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    /// Claims as we sign them, for `seconds_left` more seconds.
    fn our_claims(seconds_left: i64) -> serde_json::Value {
        let now = Utc::now().timestamp();
        serde_json::json!({"iss": "auth", "aud": "backends", "sub": "3", "iat": now, "exp": now + seconds_left, "sid": 4})
    }

    #[test]
    fn claims_signed_by_us_but_not_as_we_issue_them_are_invalid() {
        let keys = keys(SECRET);
        let header = keys.header.clone();
        let assert_invalid = |claims: serde_json::Value| {
            let token = signed_by_hand(&header, &claims, SECRET);
            assert!(matches!(keys.verify(&token), Err(AuthError::InvalidToken)), "{claims}");
        };
        for (claim, value) in [
            ("iss", serde_json::json!("someone-else")),
            ("aud", serde_json::json!("another-backend")),
            ("aud", serde_json::json!(["another-backend"])),
            ("sub", serde_json::json!("not-a-number")),
            ("sub", serde_json::json!(3)),
            ("exp", serde_json::json!("tomorrow")),
            ("sid", serde_json::json!("4")),
            ("nbf", serde_json::json!(Utc::now().timestamp() + 60)),
        ] {
            let mut claims = our_claims(60);
            claims[claim] = value;
            assert_invalid(claims);
        }
        for missing in ["iss", "aud", "sub", "exp", "sid"] {
            let mut claims = our_claims(60);
            claims.as_object_mut().unwrap().remove(missing);
            assert_invalid(claims);
        }
    }

    #[test]
    fn an_audience_list_naming_us_and_a_past_not_before_are_accepted() {
        let keys = keys(SECRET);
        let mut claims = our_claims(60);
        claims["aud"] = serde_json::json!(["another-backend", "backends"]);
        claims["nbf"] = serde_json::json!(Utc::now().timestamp() - 60);
        claims["extra"] = serde_json::json!({"ignored": true});
        let verified = keys.verify(&signed_by_hand(&keys.header, &claims, SECRET)).unwrap();
        assert_eq!((verified.user_id, verified.session_id), (3, 4));
    }

    #[test]
    fn a_token_is_expired_from_the_second_its_exp_names() {
        let keys = keys(SECRET);
        for seconds_left in [0, -1] {
            let token = signed_by_hand(&keys.header, &our_claims(seconds_left), SECRET);
            assert!(matches!(keys.verify(&token), Err(AuthError::TokenExpired)), "{seconds_left} s left");
        }
        assert!(keys.verify(&signed_by_hand(&keys.header, &our_claims(2), SECRET)).is_ok());
    }

    #[test]
    fn another_algorithm_or_a_critical_extension_is_invalid_even_with_our_secret() {
        let keys = keys(SECRET);
        let mut hs512 = keys.header.clone();
        hs512.alg = jsonwebtoken::Algorithm::HS512;
        let mut critical = keys.header.clone();
        critical.crit = Some(vec!["exp-check".to_owned()]);
        let mut untyped = keys.header.clone();
        untyped.typ = None;
        for header in [hs512, critical, untyped] {
            let token = signed_by_hand(&header, &our_claims(60), SECRET);
            assert!(matches!(keys.verify(&token), Err(AuthError::InvalidToken)), "{header:?}");
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(keys(SECRET).with_previous(&[Secret::new("short")]).is_err());
        assert!(AccessTokenKeys::new(&Secret::new("short"), None, "a", "b", TimeDelta::minutes(1)).is_err());
    }
}
