//! Command-line flags that override single vision settings for `vigil analyze`,
//! `vigil eval` and `vigil bench`. A flag given wins over the configuration (file,
//! `.env`, `VIGIL_VISION__*`); a flag not given leaves the configured value alone.

use std::path::PathBuf;

use clap::Args;
use vigil_config::Settings;
use vigil_vision::EngineKind;

/// `--models-dir`, `--engine`.
#[derive(Debug, Clone, Args)]
pub struct VisionFlags {
    /// Directory holding the .onnx models [default: vision.models_dir, else beside the
    /// binary, /usr/share/vigil/models or ./models].
    #[arg(long, global = true, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Inference engine: auto, onnxruntime or rten [default: vision.engine].
    #[arg(long, global = true)]
    pub engine: Option<EngineKind>,
}

impl VisionFlags {
    /// `settings` with the given flags applied.
    pub fn apply(&self, settings: &Settings) -> Settings {
        let mut s = settings.clone();
        if let Some(dir) = &self.models_dir {
            s.vision.models_dir = Some(dir.clone());
        }
        if let Some(engine) = self.engine {
            s.vision.engine = vigil_core::vision::engine_setting(engine);
        }
        s
    }
}
