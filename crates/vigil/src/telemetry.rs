//! Logging: readable lines in development, JSON elsewhere, level from `RUST_LOG` or the
//! config, and optionally rotating files. The returned guard flushes file logs on drop,
//! so `main` keeps it until exit.
//!
//! Logs name users, addresses and routes: a log folder Vigil creates is 0700 whatever
//! the umask. The files in it get the appender's default mode (tracing-appender offers
//! no way to choose it), which the folder makes unreachable to other users.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};
use vigil_config::{LogRotation, Settings};

/// Flushes buffered file logs when dropped.
pub struct TelemetryGuard {
    _file: Option<WorkerGuard>,
}

/// Installs the global subscriber (once per process).
pub fn init(settings: &Settings) -> anyhow::Result<TelemetryGuard> {
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(settings.log_filter()))
    };
    let json = settings.log_json();
    let console = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(filter())
            .boxed()
    } else {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter())
            .boxed()
    };

    let mut guard = None;
    let file_layer = match &settings.log.dir {
        Some(dir) => {
            create_private_dir(dir)?;
            let rotation = match settings.log.rotation {
                LogRotation::Hourly => Rotation::HOURLY,
                LogRotation::Daily => Rotation::DAILY,
                LogRotation::Never => Rotation::NEVER,
            };
            let appender = Builder::new()
                .rotation(rotation)
                .filename_prefix("vigil")
                .filename_suffix("log")
                .max_log_files(settings.log.keep)
                .build(dir)?;
            let (writer, g) = tracing_appender::non_blocking(appender);
            guard = Some(g);
            // Files are for machines: always JSON.
            Some(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_ansi(false)
                    .with_writer(writer)
                    .with_filter(filter())
                    .boxed(),
            )
        }
        None => None,
    };

    tracing_subscriber::registry()
        .with(console)
        .with(file_layer)
        .try_init()?;
    Ok(TelemetryGuard { _file: guard })
}

/// Creates `dir` (and missing parents) owner-only, 0700 whatever the umask. A folder
/// that already exists keeps its mode: an administrator may have shared it on purpose
/// (with a log shipper's group, say).
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| anyhow::anyhow!("creating the log folder {}: {e}", dir.display()))?;
    // The umask may have taken bits from 0700; set it exactly.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}
