//! Logging: readable lines in development, JSON elsewhere, level from `RUST_LOG` or the
//! config, and optionally rotating files. The returned guard flushes file logs on drop,
//! so `main` keeps it until exit.

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
            std::fs::create_dir_all(dir)?;
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
