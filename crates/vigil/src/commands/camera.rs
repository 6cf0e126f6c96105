//! `vigil camera …`: cameras from the command line. Changes are stored and published
//! like the API's, so a running server starts, restarts or stops the camera within a
//! second or two; `test` tries a URL without storing anything.

use anyhow::Context;
use clap::{Args, Subcommand};
use vigil_config::Settings;
use vigil_core::cameras::{Cameras, NewCamera, SettingsPatch};
use vigil_core::Actor;

/// `vigil camera …`.
#[derive(Debug, Subcommand)]
pub enum CameraCommand {
    /// Add a camera (enabled unless --disabled). Safe while the server runs.
    Add(AddCamera),
    /// List cameras with their URLs redacted. Safe while the server runs.
    List,
    /// Remove a camera with its violations and their pictures. Safe while the server runs.
    Remove(CameraRef),
    /// Try a URL: resolution, codec, frame rate and the first frame's faces. Safe while
    /// the server runs.
    Test(TestUrl),
}

/// Arguments of `vigil camera add`.
#[derive(Debug, Args)]
pub struct AddCamera {
    /// Display name.
    pub name: String,
    /// `rtsp://…`, `rtsps://…`, `http(s)://…` (MJPEG or JPEG snapshot),
    /// `file:NAME` (under cameras.files_dir), `device:/dev/videoN` or `browser`.
    pub url: String,
    /// Frames analysed per second [default: 5].
    #[arg(long)]
    pub fps: Option<f32>,
    /// Width frames are analysed at [default: 640].
    #[arg(long)]
    pub width: Option<u32>,
    /// Smoothed no-mask score for a violation [default: 0.75].
    #[arg(long)]
    pub confidence: Option<f32>,
    /// Analyse every frame (no motion gating).
    #[arg(long)]
    pub no_motion_gating: bool,
    /// Store it without starting it.
    #[arg(long)]
    pub disabled: bool,
}

/// A camera by name or id.
#[derive(Debug, Args)]
pub struct CameraRef {
    /// Name or id.
    pub camera: String,
}

/// Arguments of `vigil camera test`.
#[derive(Debug, Args)]
pub struct TestUrl {
    /// The URL to try.
    pub url: String,
}

/// Runs a `vigil camera` command.
pub async fn run(settings: &Settings, cmd: CameraCommand) -> anyhow::Result<()> {
    // Only `test` analyses a frame: the models load for it alone.
    let vision = match &cmd {
        CameraCommand::Test(_) if settings.vision.enabled => {
            let s = settings.clone();
            let service =
                tokio::task::spawn_blocking(move || vigil_core::vision::VisionService::load(&s))
                    .await
                    .context("loading the face models")??;
            Some(std::sync::Arc::new(service))
        }
        _ => None,
    };
    let cameras = Cameras::open_for_command(settings, vision).await?;
    let result = run_with(&cameras, cmd).await;
    cameras.close().await;
    result
}

async fn run_with(cameras: &Cameras, cmd: CameraCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        CameraCommand::Add(args) => {
            let camera = cameras
                .create(
                    &actor,
                    NewCamera {
                        name: args.name,
                        url: args.url,
                        enabled: !args.disabled,
                        settings: SettingsPatch {
                            detect_fps: args.fps,
                            detect_width: args.width,
                            confidence: args.confidence,
                            motion_gating: args.no_motion_gating.then_some(false),
                            ..SettingsPatch::default()
                        },
                    },
                )
                .await?;
            println!(
                "added camera `{}` ({}) {}",
                camera.name,
                camera.id,
                if camera.enabled {
                    "enabled: a running server starts it"
                } else {
                    "disabled"
                }
            );
        }
        CameraCommand::List => {
            let list = cameras.list().await?;
            if list.is_empty() {
                println!("no cameras");
            }
            for c in list {
                println!(
                    "{}  {:<24} {:<8} {:>4} fps  {}  {}",
                    c.id,
                    c.name,
                    c.kind,
                    c.settings.detect_fps,
                    if c.enabled { "enabled " } else { "disabled" },
                    c.url
                );
            }
        }
        CameraCommand::Remove(args) => {
            let camera = cameras.get(&args.camera).await?;
            cameras.delete(&actor, camera.id.as_str()).await?;
            println!("removed camera `{}` ({})", camera.name, camera.id);
        }
        CameraCommand::Test(args) => {
            let report = cameras.test(&args.url).await?;
            let size = match (report.width, report.height) {
                (Some(w), Some(h)) => format!("{w}×{h}"),
                _ => "?".into(),
            };
            println!("source:     {}", report.kind);
            println!("resolution: {size}");
            println!("codec:      {}", report.codec.as_deref().unwrap_or("?"));
            println!(
                "frame rate: {}",
                report
                    .fps
                    .map_or("?".to_string(), |f| format!("{f:.1} fps"))
            );
            if report.ok {
                println!("first frame: {} face(s)", report.faces.len());
                for f in &report.faces {
                    println!(
                        "  box [{:.0}, {:.0}, {:.0}, {:.0}]  {} {:.2}",
                        f.bbox[0], f.bbox[1], f.bbox[2], f.bbox[3], f.label, f.score
                    );
                }
            }
            if let Some(error) = report.error {
                anyhow::bail!("{error}");
            }
        }
    }
    Ok(())
}
