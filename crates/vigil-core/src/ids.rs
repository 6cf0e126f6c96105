//! Typed ids: a user id cannot be passed where a session id is expected.
//!
//! Every stored row is named by 32 lowercase hex digits (128 random bits). [`Id<K>`]
//! wraps that text with a zero-sized marker `K` saying what it names; the aliases
//! ([`UserId`], [`ApiKeyId`], [`SessionId`], [`UploadId`]) are what the use cases take.
//! An id is built by [`Id::parse`] from outside input (a path segment, a CLI argument)
//! or by [`Id::from_stored`] from a value the database handed back.
//!
//! A new kind of id (cameras, jobs…) is three lines:
//!
//! ```
//! use vigil_core::ids::{Id, IdKind};
//! /// Marks camera ids.
//! #[derive(Debug)]
//! pub enum Camera {}
//! impl IdKind for Camera { const NAME: &'static str = "camera"; }
//! /// A camera's id.
//! pub type CameraId = Id<Camera>;
//! let id = CameraId::parse("0123456789abcdef0123456789ABCDEF").unwrap();
//! assert_eq!(id.to_string(), "0123456789abcdef0123456789abcdef");
//! ```

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What an [`Id`] names; implemented by uninhabited marker types.
pub trait IdKind {
    /// The kind in words, for messages ("user", "API key").
    const NAME: &'static str;
}

/// Marks user ids.
#[derive(Debug)]
pub enum User {}
impl IdKind for User {
    const NAME: &'static str = "user";
}

/// Marks API key ids.
#[derive(Debug)]
pub enum ApiKey {}
impl IdKind for ApiKey {
    const NAME: &'static str = "API key";
}

/// Marks session ids (the public id, never the cookie value).
#[derive(Debug)]
pub enum Session {}
impl IdKind for Session {
    const NAME: &'static str = "session";
}

/// Marks upload ids.
#[derive(Debug)]
pub enum Upload {}
impl IdKind for Upload {
    const NAME: &'static str = "upload";
}

/// A user's id.
pub type UserId = Id<User>;
/// An API key's id.
pub type ApiKeyId = Id<ApiKey>;
/// A session's public id.
pub type SessionId = Id<Session>;
/// An upload's id (also its blob's name).
pub type UploadId = Id<Upload>;

/// Text that is not a well-formed id of kind `kind`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a valid {kind} id (32 hex digits)")]
pub struct InvalidId {
    /// The kind expected.
    pub kind: &'static str,
    /// The start of the rejected text, for the message.
    shown: String,
}

/// The id of a `K`: 32 lowercase hex digits.
pub struct Id<K: IdKind> {
    text: String,
    kind: PhantomData<fn() -> K>,
}

impl<K: IdKind> Id<K> {
    /// Length of every id, in characters.
    pub const LEN: usize = 32;

    /// Accepts 32 hex digits (either case; stored lowercase). Anything else, including
    /// paths and dots, is refused.
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        let ok = text.len() == Self::LEN && text.bytes().all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(Id {
                text: text.to_ascii_lowercase(),
                kind: PhantomData,
            })
        } else {
            Err(InvalidId {
                kind: K::NAME,
                shown: text.chars().take(40).collect(),
            })
        }
    }

    /// Wraps an id the database returned. Stored ids were checked when written, so this
    /// does not check again.
    pub fn from_stored(text: String) -> Self {
        Id {
            text,
            kind: PhantomData,
        }
    }

    /// A fresh random id (128 bits from the OS's generator, like blob keys).
    pub fn generate() -> Self {
        Id::from_stored(vigil_store::BlobKey::generate().as_str().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The id's text, consuming it.
    pub fn into_string(self) -> String {
        self.text
    }
}

impl<K: IdKind> Clone for Id<K> {
    fn clone(&self) -> Self {
        Id {
            text: self.text.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: IdKind> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<K: IdKind> Eq for Id<K> {}

impl<K: IdKind> Hash for Id<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl<K: IdKind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} id {}", K::NAME, self.text)
    }
}

impl<K: IdKind> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<K: IdKind> FromStr for Id<K> {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Id::parse(s)
    }
}

impl<K: IdKind> AsRef<str> for Id<K> {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl<K: IdKind> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de, K: IdKind> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Id::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_32_hex_digits_and_keep_their_kind() {
        let id = UserId::parse("00112233445566778899AABBCCDDEEFF").unwrap();
        assert_eq!(id.as_str(), "00112233445566778899aabbccddeeff");
        for bad in [
            "",
            "../etc/passwd",
            "0011",
            "00112233445566778899aabbccddeefg",
        ] {
            let err = SessionId::parse(bad).unwrap_err();
            assert_eq!(err.kind, "session");
        }
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"00112233445566778899aabbccddeeff\"");
        let back: UserId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ApiKeyId>("\"nope\"").is_err());
        assert_eq!(
            format!("{id:?}"),
            "user id 00112233445566778899aabbccddeeff"
        );
    }
}
