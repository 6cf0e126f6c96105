//! Reading the layers (defaults, TOML, `.env`, environment, flags) into [`Settings`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Value;
use figment::Figment;

use crate::{Profile, Settings, ValidationErrors};

/// Environment variables with these prefixes belong to tests and tooling, not to the
/// settings, so they are not reported as unknown settings.
const RESERVED_ENV_PREFIXES: &[&str] = &["VIGIL_TEST_", "VIGIL_CI_"];

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`: the TOML file to read (it must exist when given).
    pub config_file: Option<PathBuf>,
    /// `--profile NAME`.
    pub profile: Option<Profile>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--listen ADDR:PORT`.
    pub listen: Option<SocketAddr>,
    /// `--tls-cert FILE`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key FILE`.
    pub tls_key: Option<PathBuf>,
    /// `--insecure-lan`: sets `server.allow_insecure_lan`.
    pub insecure_lan: bool,
    /// Directory searched for `vigil.toml` and `.env` when no file is given (default: cwd).
    pub working_dir: Option<PathBuf>,
}

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `--config` names a file that does not exist.
    #[error("config file {0} does not exist (given with --config)")]
    MissingFile(PathBuf),
    /// The `.env` file could not be parsed.
    #[error("cannot read {path}: {message}")]
    DotEnv {
        /// The `.env` path.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A layer had a bad value or an unknown key.
    #[error("invalid configuration:\n{0}")]
    Invalid(String),
    /// Values parsed but break a rule.
    #[error(transparent)]
    Rules(#[from] ValidationErrors),
}

/// Loads and validates the settings from every layer.
pub fn load(overrides: &Overrides) -> Result<Settings, LoadError> {
    let settings = load_unvalidated(overrides)?;
    settings.validate()?;
    Ok(settings)
}

/// Loads the layers without applying the cross-field rules (used by `config show`, which
/// must be able to display a configuration that would not start).
pub fn load_unvalidated(overrides: &Overrides) -> Result<Settings, LoadError> {
    let cwd = overrides
        .working_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));

    let mut figment = Figment::from(Serialized::defaults(Settings::default()));

    match &overrides.config_file {
        Some(file) if !file.exists() => return Err(LoadError::MissingFile(file.clone())),
        Some(file) => figment = figment.merge(Toml::file_exact(file)),
        None => {
            let default_file = cwd.join("vigil.toml");
            if default_file.exists() {
                figment = figment.merge(Toml::file_exact(default_file));
            }
        }
    }

    for (key, value) in dotenv_settings(&cwd.join(".env"))? {
        figment = figment.merge(Serialized::default(&key, value));
    }

    figment = figment
        .merge(
            Env::prefixed("VIGIL_")
                .filter(|key| {
                    let upper = format!("VIGIL_{}", key.as_str().to_ascii_uppercase());
                    !RESERVED_ENV_PREFIXES.iter().any(|p| upper.starts_with(p))
                })
                .split("__"),
        )
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database.url".into()),
        );

    if let Some(profile) = overrides.profile {
        figment = figment.merge(Serialized::default("profile", profile));
    }
    if let Some(dir) = &overrides.data_dir {
        figment = figment.merge(Serialized::default("data_dir", dir));
    }
    if let Some(listen) = overrides.listen {
        figment = figment.merge(Serialized::default("server.listen", listen));
    }
    if let Some(cert) = &overrides.tls_cert {
        figment = figment.merge(Serialized::default("tls.cert", cert));
    }
    if let Some(key) = &overrides.tls_key {
        figment = figment.merge(Serialized::default("tls.key", key));
    }
    if overrides.insecure_lan {
        figment = figment.merge(Serialized::default("server.allow_insecure_lan", true));
    }

    extract(&figment)
}

/// Loads and validates settings from the text of a TOML file and of a `.env` file only
/// (no files are read; the process environment still wins over `.env` lines, as in
/// [`load`]). The same layering and rules as [`load`]: for the fuzz target
/// `config_load` and for checking a configuration held in memory.
pub fn load_from_text(toml: &str, dotenv: &str) -> Result<Settings, LoadError> {
    let mut figment =
        Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(toml));
    let lines = dotenv_lines(
        dotenvy::from_read_iter(dotenv.as_bytes()),
        Path::new(".env"),
    )?;
    for (key, value) in lines {
        figment = figment.merge(Serialized::default(&key, value));
    }
    let settings = extract(&figment)?;
    settings.validate()?;
    Ok(settings)
}

/// The settings the layers of `figment` describe, every bad value reported.
fn extract(figment: &Figment) -> Result<Settings, LoadError> {
    figment.extract::<Settings>().map_err(|err| {
        let lines: Vec<String> = err.into_iter().map(|e| format!("  - {e}")).collect();
        LoadError::Invalid(lines.join("\n"))
    })
}

/// Reads `VIGIL_*` and `DATABASE_URL` lines of a `.env` file as (dotted key, value),
/// skipping variables the real environment also sets (the environment wins).
fn dotenv_settings(path: &Path) -> Result<Vec<(String, Value)>, LoadError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let iter = dotenvy::from_path_iter(path).map_err(|e| LoadError::DotEnv {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    dotenv_lines(iter, path)
}

/// The settings among parsed `.env` lines (`path` names the file in errors).
fn dotenv_lines(
    iter: impl Iterator<Item = dotenvy::Result<(String, String)>>,
    path: &Path,
) -> Result<Vec<(String, Value)>, LoadError> {
    let mut out = Vec::new();
    for item in iter {
        let (name, value) = item.map_err(|e| LoadError::DotEnv {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if std::env::var_os(&name).is_some() {
            continue;
        }
        let key = if name == "DATABASE_URL" {
            "database.url".to_string()
        } else if let Some(rest) = name.strip_prefix("VIGIL_") {
            if RESERVED_ENV_PREFIXES.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            rest.to_ascii_lowercase().replace("__", ".")
        } else {
            continue;
        };
        let parsed: Value = match value.parse() {
            Ok(v) => v,
            Err(never) => match never {},
        };
        out.push((key, parsed));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the `config_load` fuzz corpus through the same checks as the fuzz
    /// target (TOML before the first NUL byte, `.env` lines after it): no panic, and an
    /// accepted configuration renders as valid TOML for `vigil config show`.
    #[test]
    fn fuzz_corpus_loads_or_is_refused_cleanly() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/config_load");
        let mut accepted = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue;
            };
            let (toml_text, dotenv) = text.split_once('\0').unwrap_or((text, ""));
            if let Ok(settings) = load_from_text(toml_text, dotenv) {
                let shown = settings.to_masked_toml();
                assert!(shown.parse::<toml::Table>().is_ok(), "{shown}");
                accepted += 1;
            }
        }
        assert!(
            accepted >= 2,
            "the corpus holds valid configurations ({accepted})"
        );
    }

    #[test]
    fn text_layers_apply_in_order() {
        let toml = "profile = \"staging\"\n[server]\nrequest_timeout_secs = 40\n";
        let dotenv = "VIGIL_SECRET_KEY=q0Zf3JtV9mYpL2xW8rBcK5nHsA7eD1uGi4oT6vXy\n\
                      VIGIL_SERVER__REQUEST_TIMEOUT_SECS=90\n";
        let settings = load_from_text(toml, dotenv).unwrap();
        assert_eq!(settings.profile, crate::Profile::Staging);
        assert_eq!(
            settings.server.request_timeout_secs, 90,
            ".env wins over TOML"
        );
        assert!(matches!(
            load_from_text("[server]\nnope = 1\n", ""),
            Err(LoadError::Invalid(_))
        ));
        assert!(matches!(
            load_from_text("profile = \"production\"\n", ""),
            Err(LoadError::Rules(_))
        ));
    }
}
