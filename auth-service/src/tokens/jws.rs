//! Checking compact HS256 JWS (RFC 7515) with keys prepared once.
//!
//! jsonwebtoken still signs our access tokens; checking them is done here because it builds the
//! HMAC key on every check and parses the claims twice, which together made up three quarters of
//! what a ValidateToken call cost the auth service beyond gRPC (docs/performance.md, session 13).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of an HS256 signature.
const SIGNATURE_BYTES: usize = 32;

/// An HS256 key with its inner and outer pads hashed once, so a check hashes only the token.
#[derive(Clone)]
pub struct Hs256Key(Hmac<Sha256>);

impl Hs256Key {
    /// The key for `secret` (any length; callers enforce the minimum).
    pub fn new(secret: &[u8]) -> Self {
        Self(Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"))
    }
}

/// A compact JWS split into its three parts. Nothing in it is trusted until
/// [`Self::is_signed_by`] says so.
pub struct CompactJws<'a> {
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'a [u8],
    /// The base64url header.
    header: &'a [u8],
    /// The base64url payload.
    payload: &'a [u8],
    /// The decoded signature.
    signature: [u8; SIGNATURE_BYTES],
}

impl<'a> CompactJws<'a> {
    /// Splits `token` into its parts: `None` unless it has exactly three and the last one is an
    /// HS256 signature in unpadded base64url.
    pub fn parse(token: &'a str) -> Option<Self> {
        let token = token.as_bytes();
        let signature_dot = token.iter().rposition(|&byte| byte == b'.')?;
        let (signing_input, encoded_signature) = (&token[..signature_dot], &token[signature_dot + 1..]);
        let header_dot = signing_input.iter().position(|&byte| byte == b'.')?;
        let (header, payload) = (&signing_input[..header_dot], &signing_input[header_dot + 1..]);
        if payload.contains(&b'.') {
            return None;
        }
        let mut signature = [0; SIGNATURE_BYTES];
        // A longer signature fails to fit rather than being cut short.
        let written = URL_SAFE_NO_PAD.decode_slice(encoded_signature, &mut signature).ok()?;
        (written == SIGNATURE_BYTES).then_some(Self { signing_input, header, payload, signature })
    }

    /// Whether `key` made the signature; the comparison takes the same time wherever it differs.
    pub fn is_signed_by(&self, key: &Hs256Key) -> bool {
        let mut mac = key.0.clone();
        mac.update(self.signing_input);
        mac.verify_slice(&self.signature).is_ok()
    }

    /// The header's JSON, if it is valid base64url.
    pub fn header_json(&self) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(self.header).ok()
    }

    /// The payload's JSON, if it is valid base64url.
    pub fn payload_json(&self) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(self.payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// A token over `header` and `payload` signed with `secret`, built with jsonwebtoken's own
    /// primitives so that this module is checked against another implementation.
    fn signed(header: &str, payload: &str, secret: &[u8]) -> String {
        let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
        format!("{message}.{signature}")
    }

    #[test]
    fn a_token_signed_with_the_key_is_split_and_verified() {
        let token = signed(r#"{"alg":"HS256"}"#, r#"{"sub":"1"}"#, SECRET);
        let jws = CompactJws::parse(&token).unwrap();
        assert!(jws.is_signed_by(&Hs256Key::new(SECRET)));
        assert_eq!(jws.header_json().unwrap(), br#"{"alg":"HS256"}"#);
        assert_eq!(jws.payload_json().unwrap(), br#"{"sub":"1"}"#);
    }

    #[test]
    fn another_key_or_a_changed_byte_breaks_the_signature() {
        let token = signed(r#"{"alg":"HS256"}"#, r#"{"sub":"1"}"#, SECRET);
        let key = Hs256Key::new(SECRET);
        assert!(!CompactJws::parse(&token).unwrap().is_signed_by(&Hs256Key::new(b"another secret")));
        let forged = signed(r#"{"alg":"HS256"}"#, r#"{"sub":"2"}"#, SECRET);
        let payload_swapped = format!(
            "{}.{}.{}",
            token.split('.').next().unwrap(),
            forged.split('.').nth(1).unwrap(),
            token.rsplit('.').next().unwrap()
        );
        assert!(!CompactJws::parse(&payload_swapped).unwrap().is_signed_by(&key));
        for position in [0, token.find('.').unwrap() + 1, token.len() - 2] {
            let mut bytes = token.clone().into_bytes();
            bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(CompactJws::parse(&changed).is_none_or(|jws| !jws.is_signed_by(&key)), "byte {position} changed");
        }
    }

    #[test]
    fn anything_but_three_parts_and_a_whole_signature_is_refused() {
        let token = signed(r#"{"alg":"HS256"}"#, r#"{"sub":"1"}"#, SECRET);
        let signature = token.rsplit('.').next().unwrap();
        let cases = [
            String::new(),
            "..".to_owned(),
            token.replacen('.', "", 1),
            format!("{token}.{signature}"),
            format!("x.{token}"),
            format!("{token}="),
            format!("{token}AA"),
            token[..token.len() - 4].to_owned(),
            token.rsplit_once('.').unwrap().0.to_owned() + ".",
        ];
        for case in &cases {
            assert!(CompactJws::parse(case).is_none(), "{case:?}");
        }
    }
}
