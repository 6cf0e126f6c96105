//! `vigil user …` and `vigil apikey …`: account and key management on the server's
//! machine, for the first admin, scripts and recovery (a locked-out admin). Every change
//! is written to the audit log as done by the command line.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use vigil_auth::audit::{Actor, AuditAction, AuditLog, Event};
use vigil_auth::password::Passwords;
use vigil_auth::{apikeys, sessions, users, Keys, Role};
use vigil_config::Settings;
use vigil_store::Database;

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
    /// Days until the key stops working (default: until revoked).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub expires_days: Option<u32>,
}

/// Arguments of `vigil apikey revoke`.
#[derive(Debug, Args)]
pub struct RevokeKey {
    /// Key id (from `vigil apikey list`).
    pub id: String,
}

struct Ctx {
    db: Database,
    audit: AuditLog,
    passwords: Passwords,
}

async fn open(settings: &Settings) -> anyhow::Result<Ctx> {
    let db = super::backup::connect(settings).await?;
    db.prepare_schema(settings.database.auto_migrate)
        .await
        .context("checking the database schema")?;
    let keys = Keys::from_settings(settings)?;
    let a = &settings.auth;
    Ok(Ctx {
        audit: AuditLog::new(db.clone(), keys),
        passwords: Passwords::new(
            a.argon2_memory_kib,
            a.argon2_iterations,
            a.min_password_length,
        )?,
        db,
    })
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

async fn find(ctx: &Ctx, name: &str) -> anyhow::Result<users::User> {
    match users::by_username(&ctx.db, name).await? {
        Some(c) => Ok(c.user),
        None => bail!("no user named `{}`", name.trim().to_lowercase()),
    }
}

async fn audit(ctx: &Ctx, event: Event) {
    let action = event.action.as_str();
    if let Err(e) = ctx.audit.record(&Actor::cli(), event).await {
        tracing::error!(error = %e, action, "could not write the audit record");
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
    let ctx = open(settings).await?;
    match cmd {
        UserCommand::Add(args) => {
            let role = if args.admin { Role::Admin } else { args.role };
            let password = read_password(args.password_stdin)?;
            let user = users::create(&ctx.db, &ctx.passwords, &args.name, &password, role).await?;
            audit(
                &ctx,
                Event::new(AuditAction::UserCreate)
                    .target("user", user.id.clone())
                    .detail("username", user.username.clone())
                    .detail("role", role.as_str()),
            )
            .await;
            println!("created {} `{}` ({})", role, user.username, user.id);
        }
        UserCommand::Passwd(args) => {
            let user = find(&ctx, &args.name).await?;
            let password = read_password(args.password_stdin)?;
            users::set_password(&ctx.db, &ctx.passwords, &user.id, &password).await?;
            let ended = sessions::revoke_all(&ctx.db, &user.id, None).await?;
            audit(
                &ctx,
                Event::new(AuditAction::UserPasswordReset).target("user", user.id.clone()),
            )
            .await;
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
            for u in users::list(&ctx.db).await? {
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
            let user = find(&ctx, &args.name).await?;
            users::update(&ctx.db, &user.id, None, Some(true)).await?;
            sessions::revoke_all(&ctx.db, &user.id, None).await?;
            audit(
                &ctx,
                Event::new(AuditAction::UserUpdate)
                    .target("user", user.id.clone())
                    .detail("disabled", true),
            )
            .await;
            println!("disabled `{}`", user.username);
        }
        UserCommand::Enable(args) => {
            let user = find(&ctx, &args.name).await?;
            users::update(&ctx.db, &user.id, None, Some(false)).await?;
            audit(
                &ctx,
                Event::new(AuditAction::UserUpdate)
                    .target("user", user.id.clone())
                    .detail("disabled", false),
            )
            .await;
            println!("enabled `{}`", user.username);
        }
    }
    ctx.db.close().await;
    Ok(())
}

/// Runs a `vigil apikey` command.
pub async fn apikey(settings: &Settings, cmd: ApiKeyCommand) -> anyhow::Result<()> {
    let ctx = open(settings).await?;
    match cmd {
        ApiKeyCommand::Create(args) => {
            let expires_at = args
                .expires_days
                .map(|d| vigil_store::now_ms().saturating_add(i64::from(d) * 86_400_000));
            let (key, row) =
                apikeys::create(&ctx.db, &args.name, args.role, None, expires_at).await?;
            audit(
                &ctx,
                Event::new(AuditAction::ApiKeyCreate)
                    .target("apikey", row.id.clone())
                    .detail("name", row.name.clone())
                    .detail("role", row.role.as_str())
                    .detail("prefix", row.prefix.clone()),
            )
            .await;
            // The key alone on stdout, so scripts can capture it; the rest on stderr.
            eprintln!(
                "created {} key `{}` ({}); it is shown only now, store it safely:",
                row.role, row.name, row.id
            );
            println!("{key}");
        }
        ApiKeyCommand::List => {
            println!(
                "{:<32}  {:<12}  {:<8}  {:<8}  {:<20}  name",
                "id", "prefix", "role", "state", "last used"
            );
            let now = vigil_store::now_ms();
            for k in apikeys::list(&ctx.db).await? {
                let state = k.status(now);
                println!(
                    "{:<32}  {:<12}  {:<8}  {:<8}  {:<20}  {}",
                    k.id,
                    k.prefix,
                    k.role,
                    state,
                    time(k.last_used_at),
                    k.name
                );
            }
        }
        ApiKeyCommand::Revoke(args) => {
            let Some(key) = apikeys::revoke(&ctx.db, &args.id).await? else {
                bail!("no API key with id `{}`", args.id);
            };
            audit(
                &ctx,
                Event::new(AuditAction::ApiKeyRevoke)
                    .target("apikey", key.id.clone())
                    .detail("name", key.name.clone()),
            )
            .await;
            println!("revoked `{}` ({})", key.name, key.id);
        }
    }
    ctx.db.close().await;
    Ok(())
}
