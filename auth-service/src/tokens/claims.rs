//! What an access token carries: its claims as we sign them and as a check reads them back
//! (borrowing from the decoded JSON), and the header fields a check reads.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use jsonwebtoken::Algorithm;

/// `typ` header of our access tokens (RFC 9068), so no other JWT can pass for one.
pub(super) const TOKEN_TYPE: &str = "at+jwt";
/// The only algorithm accepted; the token's own `alg` is never trusted.
pub(super) const ALGORITHM: Algorithm = Algorithm::HS256;

/// Claims of an access token, as signed and as read back (borrowing from the decoded payload).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Claims<'a> {
    #[serde(borrow)]
    pub(super) iss: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) aud: Audience<'a>,
    #[serde(borrow)]
    pub(super) sub: Cow<'a, str>,
    #[serde(default)]
    pub(super) iat: i64,
    pub(super) exp: i64,
    /// Not before: never set by us, but honoured when present (RFC 7519 §4.1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) nbf: Option<i64>,
    /// Session id: revoking the session revokes the token.
    pub(super) sid: i32,
}

/// The `aud` claim: one audience (what we sign) or several (RFC 7519 §4.1.3).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Audience<'a> {
    One(Cow<'a, str>),
    Many(Vec<String>),
}

impl Audience<'_> {
    /// Whether `audience` is one of the token's audiences.
    pub(super) fn includes(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|one| one == audience),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Reads a string (borrowed when it has no escapes) or an array of strings.
        struct AudienceVisitor;
        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Audience::One(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Audience::One(Cow::Owned(value.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(one) = items.next_element()? {
                    all.push(one);
                }
                Ok(Audience::Many(all))
            }
        }
        deserializer.deserialize_any(AudienceVisitor)
    }
}

/// The header fields a check reads; others are ignored, as RFC 7515 asks.
#[derive(Deserialize)]
pub(super) struct ReadHeader<'a> {
    pub(super) alg: Algorithm,
    #[serde(borrow, default)]
    pub(super) typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) kid: Option<Cow<'a, str>>,
    /// Extensions the token says must be understood; we understand none (RFC 7515 §4.1.11).
    #[serde(default)]
    pub(super) crit: Option<IgnoredAny>,
}

impl ReadHeader<'_> {
    /// Whether this is the header of one of our access tokens.
    pub(super) fn is_access_token(&self) -> bool {
        self.alg == ALGORITHM && self.typ.as_deref() == Some(TOKEN_TYPE) && self.crit.is_none()
    }
}
