//! `vigil verify`: integrity checks over stored data. Each check reads, never writes, so
//! it is safe while a server runs. The checks live in `vigil_core::maintenance`
//! ([`Check`]); this prints one line per check and fails when any finds a problem.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use vigil_config::Settings;
use vigil_core::maintenance::{head_from_archive, Check, VerifyInputs};
use vigil_core::ChainHead;

/// `vigil verify` options.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A saved audit chain head, `SEQ:MAC` (from a `vigil::audit_head` log line or a
    /// backup): the chain must still reach it unchanged, which shows whether its newest
    /// records were cut off.
    #[arg(long, value_name = "SEQ:MAC", conflicts_with = "head_from")]
    pub head: Option<ChainHead>,
    /// Take the saved head from a backup archive's manifest.
    #[arg(long, value_name = "BACKUP.tar")]
    pub head_from: Option<PathBuf>,
}

/// Runs every check, printing one line each; fails when any check finds a problem or
/// cannot run.
pub async fn run(settings: &Settings, args: &VerifyArgs) -> anyhow::Result<()> {
    let head = match (&args.head, &args.head_from) {
        (Some(head), _) => Some(head.clone()),
        (None, Some(file)) => Some(head_from_archive(file)?),
        (None, None) => None,
    };
    let inputs = VerifyInputs::open(settings, head).await?;
    let mut failed = Vec::new();
    for check in Check::ALL {
        match check.run(&inputs).await {
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
    inputs.close().await;
    if !failed.is_empty() {
        bail!("verification failed: {}", failed.join(", "));
    }
    Ok(())
}
