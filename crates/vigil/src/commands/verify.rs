//! `vigil verify`: integrity checks over stored data. Each check reads, never writes, so
//! it is safe while a server runs. Today there is one check (the audit log's hash
//! chain); a new one is a variant of [`Check`] plus its arm in [`Check::run`].

use std::time::Duration;

use anyhow::{bail, Context};
use vigil_auth::audit::AuditLog;
use vigil_auth::Keys;
use vigil_config::Settings;
use vigil_store::db::DbOptions;
use vigil_store::Database;

/// One integrity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The audit log's MAC chain: no record altered, removed or reordered.
    AuditLog,
}

impl Check {
    /// Every check, in the order they run.
    const ALL: &'static [Check] = &[Check::AuditLog];

    /// What the check covers, as the start of its output line.
    fn label(self) -> &'static str {
        match self {
            Check::AuditLog => "audit log",
        }
    }

    /// Runs the check: `Ok(Finding)` when it could look (intact or not), `Err` when it
    /// could not (database unreachable…).
    async fn run(self, ctx: &Inputs) -> anyhow::Result<Finding> {
        match self {
            Check::AuditLog => {
                let log = AuditLog::new(ctx.db.clone(), ctx.keys.clone());
                let report = log.verify().await.context("reading the audit log")?;
                Ok(match report.problem {
                    None => Finding::intact(format!(
                        "{} record{}, chain intact",
                        report.records,
                        if report.records == 1 { "" } else { "s" }
                    )),
                    Some(problem) => Finding::broken(problem.to_string()),
                })
            }
        }
    }
}

/// What the checks share.
struct Inputs {
    db: Database,
    keys: Keys,
}

/// The result of one check.
struct Finding {
    ok: bool,
    message: String,
}

impl Finding {
    fn intact(message: String) -> Finding {
        Finding { ok: true, message }
    }

    fn broken(message: String) -> Finding {
        Finding { ok: false, message }
    }
}

/// Runs every check, printing one line each; fails when any check finds a problem or
/// cannot run.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    if settings.secret_key.is_none() && !vigil_auth::keys::key_file(&settings.data_dir).exists() {
        // Without this, a development setup would mint a fresh key and report every
        // record as altered.
        bail!(
            "no secret key: set secret_key (VIGIL_SECRET_KEY) to the one the server uses; \
             the audit chain is keyed by it"
        );
    }
    let keys = Keys::from_settings(settings).context("loading the secret key")?;
    let db = Database::connect(
        &settings.database_url(),
        &DbOptions {
            max_connections: 1,
            busy_timeout: Duration::from_millis(settings.database.busy_timeout_ms),
        },
    )
    .await
    .context("opening the database")?;
    db.prepare_schema(false)
        .await
        .context("the database is not ready to verify")?;
    let ctx = Inputs { db, keys };

    let mut failed = Vec::new();
    for check in Check::ALL {
        match check.run(&ctx).await {
            Ok(finding) => {
                println!("{}: {}", check.label(), finding.message);
                if !finding.ok {
                    failed.push(check.label());
                }
            }
            Err(e) => {
                println!("{}: could not be checked: {e:#}", check.label());
                failed.push(check.label());
            }
        }
    }
    ctx.db.close().await;
    if !failed.is_empty() {
        bail!("verification failed: {}", failed.join(", "));
    }
    Ok(())
}
