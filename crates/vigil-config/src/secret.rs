//! A string that never prints: `Debug` and `Serialize` show a mask, so settings can be
//! logged or shown with `vigil config show` without leaking credentials.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret looks like when printed or serialised.
pub const MASK: &str = "********";

/// A secret string (passwords, keys, URLs with credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where the value is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length of the secret in bytes (validation needs it without exposing it).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Accept numbers too: an all-digit secret in an env var parses as one.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i128),
            U(u128),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::S(s) => Secret(s),
            Raw::I(i) => Secret(i.to_string()),
            Raw::U(u) => Secret(u.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{s:?}"), MASK);
        assert_eq!(serde_json_like(&s), format!("\"{MASK}\""));
        assert_eq!(s.expose(), "hunter2-hunter2");
    }

    fn serde_json_like(s: &Secret) -> String {
        toml::Value::try_from(s)
            .map(|v| v.to_string())
            .unwrap_or_default()
    }
}
