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
