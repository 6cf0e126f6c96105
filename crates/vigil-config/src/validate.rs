//! Cross-field rules checked once at start-up. Every broken rule is reported, each naming
//! the setting (as a config key and as its environment variable) and how to fix it.

use std::fmt;

use crate::{Profile, Settings, StorageBackend, MIN_SECRET_BYTES};

/// Secrets that appear in tutorials and seed deployments; never accepted outside development.
const KNOWN_DEFAULT_SECRETS: &[&str] = &[
    "changeme",
    "change-me",
    "secret",
    "your-super-secret-key-here-change-this",
    "dev-secret-key-change-in-production",
    "development",
];

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The setting's key, e.g. `secret_key`.
    pub key: &'static str,
    /// The environment variable that sets it, e.g. `VIGIL_SECRET_KEY`.
    pub env: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Every broken rule found in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration is not valid:")?;
        for e in &self.0 {
            writeln!(f, "  - {} ({}): {}", e.key, e.env, e.message)?;
        }
        Ok(())
    }
}

/// Whether `prefix` can start MQTT topics: no wildcards, no spaces or control
/// characters, no empty level at either end.
fn is_topic_prefix(prefix: &str) -> bool {
    (1..=100).contains(&prefix.len())
        && !prefix.starts_with('/')
        && !prefix.ends_with('/')
        && !prefix
            .chars()
            .any(|c| matches!(c, '+' | '#') || c.is_whitespace() || c.is_control())
}

impl Settings {
    /// Applies the cross-field rules; returns every violation at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        let mut fail =
            |key, env, message: String| errors.push(ValidationError { key, env, message });
        let strict = self.profile != Profile::Development;

        if !(1..=1000).contains(&self.cameras.max_viewers) {
            fail(
                "cameras.max_viewers",
                "VIGIL_CAMERAS__MAX_VIEWERS",
                format!(
                    "must be between 1 and 1000, not {}",
                    self.cameras.max_viewers
                ),
            );
        }

        if strict {
            match &self.secret_key {
                None => fail(
                    "secret_key",
                    "VIGIL_SECRET_KEY",
                    format!(
                        "the {} profile needs a secret key of at least {MIN_SECRET_BYTES} random bytes; \
                         generate one with `openssl rand -base64 48`",
                        self.profile.as_str()
                    ),
                ),
                Some(s) if s.len() < MIN_SECRET_BYTES => fail(
                    "secret_key",
                    "VIGIL_SECRET_KEY",
                    format!(
                        "is {} bytes long; it must be at least {MIN_SECRET_BYTES} \
                         (generate one with `openssl rand -base64 48`)",
                        s.len()
                    ),
                ),
                Some(s)
                    if KNOWN_DEFAULT_SECRETS
                        .iter()
                        .any(|d| s.expose().eq_ignore_ascii_case(d))
                        || is_repetitive(s.expose()) =>
                {
                    fail(
                        "secret_key",
                        "VIGIL_SECRET_KEY",
                        "is a well-known default or has too little variety; \
                         generate one with `openssl rand -base64 48`"
                            .to_string(),
                    )
                }
                Some(_) => {}
            }
        }
        if self.profile == Profile::Production {
            if self.debug == Some(true) {
                fail(
                    "debug",
                    "VIGIL_DEBUG",
                    "debug features must be off in production; remove the setting".to_string(),
                );
            }
            if self.auth.public_url.is_none() {
                fail(
                    "auth.public_url",
                    "VIGIL_AUTH__PUBLIC_URL",
                    "production needs the URL people reach Vigil at (for example \
                     `https://vigil.example.com`): browser requests are checked against it \
                     rather than the Host header, and setup and reset links are built from it"
                        .to_string(),
                );
            }
            if self.cookies.secure == Some(false) {
                fail(
                    "cookies.secure",
                    "VIGIL_COOKIES__SECURE",
                    "cookies must be Secure in production; remove the setting \
                     (terminate TLS here or at a trusted proxy)"
                        .to_string(),
                );
            }
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            fail(
                "tls.cert / tls.key",
                "VIGIL_TLS__CERT / VIGIL_TLS__KEY",
                "set both the certificate and the key, or neither".to_string(),
            );
        }
        if self.profile == Profile::Development
            && !self.tls.enabled()
            && !self.server.allow_insecure_lan
            && !self.server.listen.ip().is_loopback()
        {
            fail(
                "server.listen",
                "VIGIL_SERVER__LISTEN",
                format!(
                    "{} is reachable from the network, but without TLS passwords and session \
                     cookies would cross it in clear (and browsers allow the camera only on \
                     HTTPS). Make a certificate with `vigil tls self-signed` and serve with \
                     --tls-cert/--tls-key, listen on 127.0.0.1, or accept the risk with \
                     --insecure-lan (server.allow_insecure_lan = true)",
                    self.server.listen
                ),
            );
        }
        if self.server.readiness_interval_secs == 0 {
            fail(
                "server.readiness_interval_secs",
                "VIGIL_SERVER__READINESS_INTERVAL_SECS",
                "must be at least 1".to_string(),
            );
        }
        if self.server.redirect_listen.is_some() && !self.tls.enabled() {
            fail(
                "server.redirect_listen",
                "VIGIL_SERVER__REDIRECT_LISTEN",
                "an HTTP→HTTPS redirect listener needs TLS (tls.cert and tls.key)".to_string(),
            );
        }
        for origin in &self.server.cors_origins {
            if origin == "*"
                || !(origin.starts_with("https://") || origin.starts_with("http://"))
                || origin.ends_with('/')
            {
                fail(
                    "server.cors_origins",
                    "VIGIL_SERVER__CORS_ORIGINS",
                    format!(
                        "`{origin}` is not an origin; list exact origins like `https://app.example.com` \
                         (wildcards are not allowed)"
                    ),
                );
            }
        }
        if self.server.request_timeout_secs == 0 {
            fail(
                "server.request_timeout_secs",
                "VIGIL_SERVER__REQUEST_TIMEOUT_SECS",
                "must be at least 1".to_string(),
            );
        }
        if self.server.header_read_timeout_secs == 0 {
            fail(
                "server.header_read_timeout_secs",
                "VIGIL_SERVER__HEADER_READ_TIMEOUT_SECS",
                "must be at least 1".to_string(),
            );
        }
        if self.database.max_connections == 0 {
            fail(
                "database.max_connections",
                "VIGIL_DATABASE__MAX_CONNECTIONS",
                "must be at least 1".to_string(),
            );
        }
        if let Some(url) = &self.database.url {
            let u = url.expose();
            if !(u.starts_with("sqlite:")
                || u.starts_with("postgres://")
                || u.starts_with("postgresql://"))
            {
                fail(
                    "database.url",
                    "DATABASE_URL",
                    "must start with sqlite:, postgres:// or postgresql://".to_string(),
                );
            }
        }
        if self.storage.backend == StorageBackend::S3 && self.storage.s3.bucket.is_empty() {
            fail(
                "storage.s3.bucket",
                "VIGIL_STORAGE__S3__BUCKET",
                "the s3 backend needs a bucket name".to_string(),
            );
        }
        if self.limits.json_body_bytes == 0 || self.limits.image_upload_bytes == 0 {
            fail(
                "limits",
                "VIGIL_LIMITS__*",
                "body limits must be greater than zero".to_string(),
            );
        }
        if self.limits.media_in_flight == 0 || self.limits.media_in_flight_per_caller == 0 {
            fail(
                "limits.media_in_flight / limits.media_in_flight_per_caller",
                "VIGIL_LIMITS__MEDIA_IN_FLIGHT / VIGIL_LIMITS__MEDIA_IN_FLIGHT_PER_CALLER",
                "must be at least 1 (media uploads and downloads would all be refused)".to_string(),
            );
        } else if self.limits.media_in_flight_per_caller > self.limits.media_in_flight {
            fail(
                "limits.media_in_flight_per_caller",
                "VIGIL_LIMITS__MEDIA_IN_FLIGHT_PER_CALLER",
                format!(
                    "is {}, more than limits.media_in_flight ({}); one caller can never have more \
                     transfers than the whole server",
                    self.limits.media_in_flight_per_caller, self.limits.media_in_flight
                ),
            );
        }
        if !(0.0..=1.0).contains(&self.vision.det_threshold) {
            fail(
                "vision.det_threshold",
                "VIGIL_VISION__DET_THRESHOLD",
                "must be between 0 and 1".to_string(),
            );
        }
        if self.vision.threads == 0 || self.vision.workers == Some(0) {
            fail(
                "vision.threads / vision.workers",
                "VIGIL_VISION__THREADS / VIGIL_VISION__WORKERS",
                "must be at least 1".to_string(),
            );
        }
        let auth = &self.auth;
        if auth.session_idle_minutes == 0 || auth.session_lifetime_hours == 0 {
            fail(
                "auth.session_idle_minutes / auth.session_lifetime_hours",
                "VIGIL_AUTH__SESSION_IDLE_MINUTES / VIGIL_AUTH__SESSION_LIFETIME_HOURS",
                "session timeouts must be greater than zero".to_string(),
            );
        }
        if auth.cache_secs > 60 {
            fail(
                "auth.cache_secs",
                "VIGIL_AUTH__CACHE_SECS",
                format!(
                    "is {}; keep it at most 60 (a few seconds is enough; 0 turns the cache off)",
                    auth.cache_secs
                ),
            );
        }
        let events = &self.events;
        if !(1..=24 * 365).contains(&events.retention_hours) {
            fail(
                "events.retention_hours",
                "VIGIL_EVENTS__RETENTION_HOURS",
                format!(
                    "is {}; use 1 to 8760 hours (a year)",
                    events.retention_hours
                ),
            );
        }
        if events.redis_channel.is_empty() || events.redis_channel.contains(char::is_whitespace) {
            fail(
                "events.redis_channel",
                "VIGIL_EVENTS__REDIS_CHANNEL",
                "must be a non-empty name without spaces".to_string(),
            );
        }
        if auth.purge_interval_secs == 0 {
            fail(
                "auth.purge_interval_secs",
                "VIGIL_AUTH__PURGE_INTERVAL_SECS",
                "must be at least 1".to_string(),
            );
        }
        if auth.min_password_length < 8 {
            fail(
                "auth.min_password_length",
                "VIGIL_AUTH__MIN_PASSWORD_LENGTH",
                "must be at least 8 (OWASP's floor)".to_string(),
            );
        }
        if auth.min_password_score > 4 {
            fail(
                "auth.min_password_score",
                "VIGIL_AUTH__MIN_PASSWORD_SCORE",
                format!("is {}; use 0 (off) to 4", auth.min_password_score),
            );
        }
        if auth.reauth_window_secs > 3600 {
            fail(
                "auth.reauth_window_secs",
                "VIGIL_AUTH__REAUTH_WINDOW_SECS",
                format!(
                    "is {}; keep it at most 3600 (an hour; 300 is the default)",
                    auth.reauth_window_secs
                ),
            );
        }
        if auth.max_failures == 0
            || auth.max_failures_per_ip == 0
            || auth.failure_window_minutes == 0
            || auth.max_failures_per_account == 0
            || auth.account_failure_window_minutes == 0
            || auth.max_second_factor_failures == 0
        {
            fail(
                "auth.max_failures / auth.max_failures_per_ip / auth.failure_window_minutes / \
                 auth.max_failures_per_account / auth.account_failure_window_minutes / \
                 auth.max_second_factor_failures",
                "VIGIL_AUTH__MAX_FAILURES…",
                "login throttling values must be greater than zero".to_string(),
            );
        }
        if auth.argon2_memory_kib < 8 * 1024 || auth.argon2_iterations == 0 {
            fail(
                "auth.argon2_memory_kib / auth.argon2_iterations",
                "VIGIL_AUTH__ARGON2_MEMORY_KIB / VIGIL_AUTH__ARGON2_ITERATIONS",
                "Argon2id needs at least 8192 KiB and 1 iteration (OWASP: 19456 KiB, 2)"
                    .to_string(),
            );
        }
        if let Some(url) = &auth.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                fail(
                    "auth.public_url",
                    "VIGIL_AUTH__PUBLIC_URL",
                    format!("`{url}` must start with http:// or https://"),
                );
            }
        }
        let limits = &self.rate_limit;
        let lists = [&limits.default, &limits.login, &limits.recovery]
            .into_iter()
            .chain(limits.routes.values());
        for list in lists {
            if let Err(e) = crate::parse_rates(list) {
                fail("rate_limit", "VIGIL_RATE_LIMIT__*", e);
            }
        }
        for route in limits.routes.keys() {
            let ok = route
                .split_once(' ')
                .is_some_and(|(m, p)| !m.is_empty() && p.starts_with('/'));
            if !ok {
                fail(
                    "rate_limit.routes",
                    "VIGIL_RATE_LIMIT__ROUTES",
                    format!("`{route}` must look like \"POST /api/v1/analyze\""),
                );
            }
        }
        if limits.redis_prefix.is_empty() || limits.redis_prefix.contains(char::is_whitespace) {
            // An empty prefix would let rate-limit keys collide with anything else in Redis.
            fail(
                "rate_limit.redis_prefix",
                "VIGIL_RATE_LIMIT__REDIS_PREFIX",
                "must be non-empty and without spaces (for example `vigil:rl:`)".to_string(),
            );
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                fail(
                    "redis_url",
                    "VIGIL_REDIS_URL",
                    "must start with redis:// or rediss://".to_string(),
                );
            }
        }
        if let Some(url) = &self.mqtt.url {
            if let Err(why) = crate::parse_mqtt_url(url) {
                fail("mqtt.url", "VIGIL_MQTT__URL", why);
            }
        }
        for (key, env, value) in [
            (
                "mqtt.topic_prefix",
                "VIGIL_MQTT__TOPIC_PREFIX",
                &self.mqtt.topic_prefix,
            ),
            (
                "mqtt.discovery_prefix",
                "VIGIL_MQTT__DISCOVERY_PREFIX",
                &self.mqtt.discovery_prefix,
            ),
        ] {
            if !is_topic_prefix(value) {
                fail(
                    key,
                    env,
                    "must be 1 to 100 characters of a topic, without `+`, `#`, spaces or a \
                     leading or trailing `/`"
                        .to_string(),
                );
            }
        }
        if self.mqtt.compliance_window_minutes == 0 || self.mqtt.compliance_window_minutes > 1440 {
            fail(
                "mqtt.compliance_window_minutes",
                "VIGIL_MQTT__COMPLIANCE_WINDOW_MINUTES",
                "must be between 1 and 1440".to_string(),
            );
        }
        let hooks = &self.webhooks;
        if hooks.retry_secs.is_empty() || hooks.retry_secs.iter().any(|s| *s > 86_400) {
            fail(
                "webhooks.retry_secs",
                "VIGIL_WEBHOOKS__RETRY_SECS",
                "list at least one wait, each at most 86400 seconds".to_string(),
            );
        }
        if hooks.max_attempts == 0 || hooks.max_attempts > 100 {
            fail(
                "webhooks.max_attempts",
                "VIGIL_WEBHOOKS__MAX_ATTEMPTS",
                "must be between 1 and 100".to_string(),
            );
        }
        if hooks.timeout_secs == 0 || hooks.timeout_secs > 300 {
            fail(
                "webhooks.timeout_secs",
                "VIGIL_WEBHOOKS__TIMEOUT_SECS",
                "must be between 1 and 300".to_string(),
            );
        }
        if self.log.keep == 0 {
            fail(
                "log.keep",
                "VIGIL_LOG__KEEP",
                "must keep at least 1 file".to_string(),
            );
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

/// A secret made of very few distinct characters (`aaaa…`, `0000…`) is not random.
fn is_repetitive(s: &str) -> bool {
    let mut seen: Vec<char> = s.chars().collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len() < 8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Secret, Settings};

    fn production() -> Settings {
        let mut s = Settings {
            profile: Profile::Production,
            secret_key: Some(Secret::new("kq3M9vX2pL7rT1wZ8yB4nC6dF0gH5jA2sE9uR3tY")),
            ..Settings::default()
        };
        s.auth.public_url = Some("https://vigil.example.com".into());
        s
    }

    #[test]
    fn development_defaults_are_valid() {
        assert_eq!(Settings::default().validate(), Ok(()));
    }

    #[test]
    fn production_with_a_good_secret_is_valid() {
        assert_eq!(production().validate(), Ok(()));
    }

    #[test]
    fn production_refuses_missing_short_default_or_repetitive_secrets() {
        for secret in [
            None,
            Some("short"),
            Some("your-super-secret-key-here-change-this"),
            Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ] {
            let s = Settings {
                secret_key: secret.map(Secret::new),
                ..production()
            };
            let errs = s.validate().expect_err("must refuse");
            assert_eq!(errs.0[0].key, "secret_key", "{secret:?}");
            assert!(errs.to_string().contains("VIGIL_SECRET_KEY"));
        }
    }

    #[test]
    fn production_refuses_debug_and_insecure_cookies() {
        let mut s = production();
        s.debug = Some(true);
        s.cookies.secure = Some(false);
        let keys: Vec<_> = s
            .validate()
            .expect_err("must refuse")
            .0
            .iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["debug", "cookies.secure"]);
    }

    #[test]
    fn production_needs_the_public_url() {
        let mut s = production();
        s.auth.public_url = None;
        let errs = s.validate().expect_err("must refuse");
        assert_eq!(errs.0.len(), 1, "{errs}");
        assert_eq!(errs.0[0].key, "auth.public_url");
        assert!(
            errs.to_string().contains("VIGIL_AUTH__PUBLIC_URL"),
            "{errs}"
        );
    }

    #[test]
    fn development_refuses_plain_http_on_the_network_unless_told() {
        for (listen, ok) in [
            ("127.0.0.1:8000", true),
            ("[::1]:8000", true),
            ("0.0.0.0:8000", false),
            ("[::]:8000", false),
            ("192.168.1.20:8000", false),
        ] {
            let mut s = Settings::default();
            s.server.listen = listen.parse().expect("addr");
            match s.validate() {
                Ok(()) => assert!(ok, "{listen} must be refused"),
                Err(e) => {
                    assert!(!ok, "{listen}: {e}");
                    let text = e.to_string();
                    assert!(text.contains("vigil tls self-signed"), "{text}");
                    assert!(text.contains("--insecure-lan"), "{text}");
                    assert_eq!(e.0[0].key, "server.listen");
                }
            }
            // The opt-out, TLS, or another profile lift the rule.
            let mut opted = s.clone();
            opted.server.allow_insecure_lan = true;
            assert_eq!(opted.validate(), Ok(()), "{listen} with the opt-out");
            let mut tls = s.clone();
            tls.tls.cert = Some("cert.pem".into());
            tls.tls.key = Some("key.pem".into());
            assert_eq!(tls.validate(), Ok(()), "{listen} with TLS");
            let mut prod = production();
            prod.server.listen = s.server.listen;
            assert_eq!(prod.validate(), Ok(()), "{listen} in production");
        }
    }

    #[test]
    fn media_concurrency_limits_must_be_positive_and_consistent() {
        let mut s = Settings::default();
        s.limits.media_in_flight = 0;
        let e = s.validate().expect_err("zero refused");
        assert!(e
            .0
            .iter()
            .any(|e| e.key.starts_with("limits.media_in_flight")));
        let mut s = Settings::default();
        s.limits.media_in_flight = 2;
        s.limits.media_in_flight_per_caller = 3;
        let e = s.validate().expect_err("per caller above global refused");
        assert!(e
            .0
            .iter()
            .any(|e| e.key == "limits.media_in_flight_per_caller"));
    }

    #[test]
    fn integration_settings_are_checked_and_name_their_keys() {
        let mut s = Settings::default();
        s.mqtt.url = Some("mqtt://127.0.0.1:1883".into());
        assert_eq!(s.validate(), Ok(()));
        s.mqtt.url = Some("mqtts://broker:8883".into());
        s.mqtt.topic_prefix = "vigil/#".into();
        s.mqtt.discovery_prefix = "/homeassistant".into();
        s.mqtt.compliance_window_minutes = 0;
        s.webhooks.retry_secs = vec![];
        s.webhooks.max_attempts = 0;
        s.webhooks.timeout_secs = 0;
        let keys: Vec<&str> = s
            .validate()
            .expect_err("must refuse")
            .0
            .iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(
            keys,
            [
                "mqtt.url",
                "mqtt.topic_prefix",
                "mqtt.discovery_prefix",
                "mqtt.compliance_window_minutes",
                "webhooks.retry_secs",
                "webhooks.max_attempts",
                "webhooks.timeout_secs"
            ]
        );
        let loaded = crate::load_from_text(
            "[mqtt]\nurl = \"mqtt://broker.lan\"\npassword = \"hunter2\"\n\
             [webhooks]\nretry_secs = [1, 2]\n",
            "",
        )
        .unwrap();
        assert_eq!(loaded.mqtt.topic_prefix, "vigil");
        assert_eq!(loaded.mqtt.client_id(), "vigil-vigil");
        assert_eq!(loaded.webhooks.retry_secs, [1, 2]);
        assert!(!loaded.to_masked_toml().contains("hunter2"));
    }

    #[test]
    fn wildcard_cors_origin_is_refused() {
        let mut s = Settings::default();
        s.server.cors_origins = vec!["*".into()];
        assert!(s.validate().is_err());
    }
}
