//! Where the face models and the ONNX Runtime library are found, so `vigil` works from
//! any directory.
//!
//! Models: `vision.models_dir` when set (and only there); otherwise the first of these
//! folders holding the required detector (`res10_ssd_face.onnx`):
//!
//! 1. `<binary dir>/models` (an unpacked release archive),
//! 2. `<binary dir>/../share/vigil/models` (installed under a prefix, e.g. `/usr/local`),
//! 3. `/usr/share/vigil/models` (the Docker image and the systemd unit put them there),
//! 4. `./models` (running from a checkout),
//! 5. the checkout this binary was built from (`cargo run` or a test binary anywhere).
//!
//! When none holds them the error lists every folder tried. The ONNX Runtime library is
//! searched the same way (`vision.onnxruntime_path`, `ORT_DYLIB_PATH`,
//! `<binary dir>/../lib/vigil/`, `/usr/lib/vigil/`, `./runtime/`); when it is not found
//! the engine's own default applies and `auto` falls back to rten, saying why.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vigil_vision::ModelFiles;

/// The packaged models folder (`deploy/Dockerfile`, `deploy/vigil.service`).
pub const PACKAGED_MODELS_DIR: &str = "/usr/share/vigil/models";
/// The packaged ONNX Runtime library (`deploy/Dockerfile`, `deploy/vigil.service`).
pub const PACKAGED_ONNXRUNTIME: &str = "/usr/lib/vigil/libonnxruntime.so";

/// The models could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ModelsNotFound {
    /// `vision.models_dir` names a folder without the required model.
    #[error(
        "vision.models_dir = {}: {file} is not there (point vision.models_dir at the folder holding the .onnx files, or set vision.enabled = false)",
        .dir.display()
    )]
    Configured {
        /// The configured folder.
        dir: PathBuf,
        /// The required model file.
        file: String,
    },
    /// No default location holds the models.
    #[error("the face models ({file}) were not found; looked in:\n{}\nset vision.models_dir (VIGIL_VISION__MODELS_DIR) to the folder holding them", list(.searched))]
    NotFound {
        /// The required model file.
        file: String,
        /// Every folder tried, in order.
        searched: Vec<PathBuf>,
    },
}

fn list(dirs: &[PathBuf]) -> String {
    let mut out = String::new();
    for d in dirs {
        let _ = writeln!(out, "  {}", d.display());
    }
    out.trim_end().to_owned()
}

/// The folders searched when `vision.models_dir` is not set, in order.
pub fn default_model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = exe_dir() {
        dirs.push(exe_dir.join("models"));
        dirs.push(exe_dir.join("../share/vigil/models"));
    }
    dirs.push(PathBuf::from(PACKAGED_MODELS_DIR));
    dirs.push(PathBuf::from("models"));
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    dirs
}

/// The models folder to use: `configured` if given (it must hold the required model),
/// else the first of `candidates` that holds it.
pub fn find_models_dir(
    configured: Option<&Path>,
    candidates: &[PathBuf],
) -> Result<PathBuf, ModelsNotFound> {
    let file = ModelFiles::default().res10;
    if let Some(dir) = configured {
        return if dir.join(&file).is_file() {
            Ok(dir.to_path_buf())
        } else {
            Err(ModelsNotFound::Configured {
                dir: dir.to_path_buf(),
                file,
            })
        };
    }
    candidates
        .iter()
        .find(|d| d.join(&file).is_file())
        .map(|d| tidy(d))
        .ok_or_else(|| ModelsNotFound::NotFound {
            file,
            searched: candidates.to_vec(),
        })
}

/// The ONNX Runtime library to try: the configured path, else `ORT_DYLIB_PATH`, else
/// the first packaged or local copy that exists, else `None` (the engine's default,
/// `runtime/libonnxruntime.so`, which then fails and names itself).
pub fn find_onnxruntime(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = configured {
        return Some(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return Some(PathBuf::from(path));
    }
    let mut candidates = Vec::new();
    if let Some(exe_dir) = exe_dir() {
        candidates.push(exe_dir.join("../lib/vigil/libonnxruntime.so"));
        candidates.push(exe_dir.join("runtime/libonnxruntime.so"));
    }
    candidates.push(PathBuf::from(PACKAGED_ONNXRUNTIME));
    candidates.push(PathBuf::from("runtime/libonnxruntime.so"));
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runtime/libonnxruntime.so"));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| tidy(&p))
}

/// The running binary's folder (symlinks resolved by the OS, so a linked binary finds
/// its real installation).
fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
}

/// `a/b/../c` → `a/c` when the folder exists, for readable logs and `/readyz`.
fn tidy(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with_models(root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(ModelFiles::default().res10), b"onnx").expect("write");
        dir
    }

    #[test]
    fn the_first_folder_holding_the_models_wins() {
        let root = tempfile::tempdir().expect("tempdir");
        let empty = root.path().join("empty");
        std::fs::create_dir_all(&empty).expect("mkdir");
        let second = folder_with_models(root.path(), "second");
        let third = folder_with_models(root.path(), "third");
        let found = find_models_dir(None, &[root.path().join("missing"), empty, second, third])
            .expect("found");
        assert!(found.ends_with("second"), "{}", found.display());
    }

    #[test]
    fn nothing_found_names_every_folder_tried() {
        let root = tempfile::tempdir().expect("tempdir");
        let tried = [root.path().join("a"), root.path().join("b/models")];
        let err = find_models_dir(None, &tried).expect_err("nothing there");
        let message = err.to_string();
        for dir in &tried {
            assert!(message.contains(&dir.display().to_string()), "{message}");
        }
        assert!(message.contains("res10_ssd_face.onnx"), "{message}");
        assert!(message.contains("VIGIL_VISION__MODELS_DIR"), "{message}");
    }

    #[test]
    fn a_configured_folder_is_the_only_place_looked_at() {
        let root = tempfile::tempdir().expect("tempdir");
        let elsewhere = folder_with_models(root.path(), "elsewhere");
        let configured = root.path().join("configured");
        let err = find_models_dir(Some(&configured), &[elsewhere]).expect_err("not there");
        assert!(
            err.to_string().contains(&configured.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn the_default_search_includes_the_binary_folder_and_the_packaged_folder() {
        let dirs = default_model_dirs();
        assert!(dirs.contains(&PathBuf::from(PACKAGED_MODELS_DIR)));
        assert!(dirs.contains(&PathBuf::from("models")));
        let exe = std::env::current_exe().expect("exe");
        let exe_dir = exe.parent().expect("parent");
        assert_eq!(dirs[0], exe_dir.join("models"));
    }
}
