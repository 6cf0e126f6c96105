//! `vigil user …` and `vigil apikey …`: account and key management on the server's
//! machine, for the first admin, scripts and recovery (a locked-out admin). Every change
//! is written to the audit log as done by the command line.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use vigil_config::Settings;
use vigil_core::accounts::{NewUser, UserChange};
use vigil_core::apikeys::{KeyExpiry, NewApiKey};
use vigil_core::{Actor, ApiKeyId, Identity, Role, User, UserId};

/// `vigil user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input with --password-stdin,
    /// else asked for twice on the terminal.
    Add(AddUser),
    /// Set a user's password (their sessions end).
    Passwd(Passwd),
    /// List users.
    List,
    /// Disable a user: they cannot sign in and their sessions end.
    Disable(NameArg),
    /// Enable a disabled user.
    Enable(NameArg),
}

/// Arguments of `vigil user add`.
#[derive(Debug, Args)]
pub struct AddUser {
    /// Username: 1–64 letters, digits, `.`, `_`, `-`, `@`.
    pub name: String,
    /// Role: admin, operator or viewer.
    #[arg(long, default_value = "viewer", conflicts_with = "admin")]
    pub role: Role,
    /// Shorthand for `--role admin`.
    #[arg(long)]
    pub admin: bool,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Arguments of `vigil user passwd`.
#[derive(Debug, Args)]
pub struct Passwd {
    /// Username.
    pub name: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// A username argument.
#[derive(Debug, Args)]
pub struct NameArg {
    /// Username.
    pub name: String,
}

/// `vigil apikey …`.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once.
    Create(CreateKey),
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id.
    Revoke(RevokeKey),
}

/// Arguments of `vigil apikey create`.
#[derive(Debug, Args)]
pub struct CreateKey {
    /// What the key is for.
    #[arg(long)]
    pub name: String,
    /// Role the key acts with: admin, operator or viewer.
    #[arg(long)]
    pub role: Role,
    /// Days until the key stops working (1–3650; admin keys 1–365). Default: 90 days
    /// for admin keys, never for others.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub expires_days: Option<u32>,
    /// The key works until revoked (refused for admin keys, which must expire).
    #[arg(long, conflicts_with = "expires_days")]
    pub never_expires: bool,
}

/// Arguments of `vigil apikey revoke`.
#[derive(Debug, Args)]
pub struct RevokeKey {
    /// Key id (from `vigil apikey list`).
    pub id: String,
}

/// Reads a password from stdin (`--password-stdin`) or the terminal (asked twice).
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!("standard input is not a terminal: pass the password with --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let second = rpassword::prompt_password("Repeat it: ").context("reading the password")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// The user named `name`, or an error saying there is none.
async fn find(identity: &Identity, name: &str) -> anyhow::Result<User> {
    match identity.user_named(name).await? {
        Some(user) => Ok(user),
        None => bail!("no user named `{}`", name.trim().to_lowercase()),
    }
}

fn time(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// Runs a `vigil user` command.
pub async fn user(settings: &Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let identity = Identity::open(settings).await?;
    let result = run_user(&identity, cmd).await;
    identity.close().await;
    result
}

async fn run_user(identity: &Identity, cmd: UserCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        UserCommand::Add(args) => {
            let role = if args.admin { Role::Admin } else { args.role };
            let password = read_password(args.password_stdin)?;
            let new = NewUser {
                username: args.name,
                password,
                role,
            };
            let user = identity.create_user(&actor, new).await?;
            println!("created {} `{}` ({})", role, user.username, user.id);
        }
        UserCommand::Passwd(args) => {
            let user = find(identity, &args.name).await?;
            let password = read_password(args.password_stdin)?;
            let ended = identity
                .set_password(&actor, &UserId::from_stored(user.id.clone()), &password)
                .await?;
            println!(
                "password set for `{}`; {ended} session(s) ended",
                user.username
            );
        }
        UserCommand::List => {
            println!(
                "{:<32}  {:<24}  {:<8}  {:<8}  {:<4}  created",
                "id", "username", "role", "state", "totp"
            );
            for u in identity.list_users().await? {
                println!(
                    "{:<32}  {:<24}  {:<8}  {:<8}  {:<4}  {}",
                    u.id,
                    u.username,
                    u.role,
                    if u.disabled { "disabled" } else { "active" },
                    if u.totp_enabled { "on" } else { "off" },
                    time(Some(u.created_at))
                );
            }
        }
        UserCommand::Disable(args) => {
            let user = set_disabled(identity, &actor, &args.name, true).await?;
            println!("disabled `{}`", user.username);
        }
        UserCommand::Enable(args) => {
            let user = set_disabled(identity, &actor, &args.name, false).await?;
            println!("enabled `{}`", user.username);
        }
    }
    Ok(())
}

/// Disables (their sessions end) or enables the user named `name`.
async fn set_disabled(
    identity: &Identity,
    actor: &Actor,
    name: &str,
    disabled: bool,
) -> anyhow::Result<User> {
    let user = find(identity, name).await?;
    let change = UserChange {
        role: None,
        disabled: Some(disabled),
    };
    Ok(identity
        .update_user(actor, &UserId::from_stored(user.id), change)
        .await?)
}

/// Runs a `vigil apikey` command.
pub async fn apikey(settings: &Settings, cmd: ApiKeyCommand) -> anyhow::Result<()> {
    let identity = Identity::open(settings).await?;
    let result = run_apikey(&identity, cmd).await;
    identity.close().await;
    result
}

async fn run_apikey(identity: &Identity, cmd: ApiKeyCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        ApiKeyCommand::Create(args) => {
            let expiry = if args.never_expires {
                KeyExpiry::Never
            } else {
                KeyExpiry::from_days(args.expires_days)
            };
            let new = NewApiKey {
                name: args.name,
                role: args.role,
                expiry,
            };
            let created = identity.create_api_key(&actor, None, new, None).await?;
            let row = created.api_key;
            let until = match row.expires_at {
                Some(t) => format!("expires {}", time(Some(t))),
                None => "never expires".to_string(),
            };
            // The key alone on stdout, so scripts can capture it; the rest on stderr.
            eprintln!(
                "created {} key `{}` ({}, {until}); it is shown only now, store it safely:",
                row.role, row.name, row.id
            );
            println!("{}", created.key);
        }
        ApiKeyCommand::List => {
            println!(
                "{:<32}  {:<12}  {:<8}  {:<8}  {:<20}  {:<20}  name",
                "id", "prefix", "role", "state", "expires", "last used"
            );
            let now = vigil_core::now_ms();
            for k in identity.list_api_keys().await? {
                let state = k.status(now);
                let expires = k
                    .expires_at
                    .map_or_else(|| "never".into(), |t| time(Some(t)));
                println!(
                    "{:<32}  {:<12}  {:<8}  {:<8}  {:<20}  {:<20}  {}",
                    k.id,
                    k.prefix,
                    k.role,
                    state,
                    expires,
                    time(k.last_used_at),
                    k.name
                );
            }
        }
        ApiKeyCommand::Revoke(args) => {
            let missing = || anyhow::anyhow!("no API key with id `{}`", args.id);
            let id = ApiKeyId::parse(&args.id).map_err(|_| missing())?;
            let key = match identity.revoke_api_key(&actor, &id).await {
                Err(vigil_core::Error::NotFound(_)) => return Err(missing()),
                other => other?,
            };
            println!("revoked `{}` ({})", key.name, key.id);
        }
    }
    Ok(())
}
