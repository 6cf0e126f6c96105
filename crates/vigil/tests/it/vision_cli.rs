//! `vigil analyze` as an operator runs it: from any directory, and with the same
//! configuration layers as `vigil serve` (`--config`, `VIGIL_VISION__*`, flags).

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::{vigil, vigil_bin, workspace_root};

fn photo() -> PathBuf {
    workspace_root().join("testdata/images/bench_640x480.jpg")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A models folder holding only the detector (no mask model), so a run that used it
/// prints `-` where the mask would be.
fn detector_only_models(dir: &Path) -> PathBuf {
    let models = dir.join("my-models");
    std::fs::create_dir_all(&models).expect("mkdir");
    std::fs::copy(
        workspace_root().join("models/res10_ssd_face.onnx"),
        models.join("res10_ssd_face.onnx"),
    )
    .expect("copy res10");
    models
}

#[test]
fn analyze_run_from_a_temporary_directory_finds_the_models() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = vigil()
        .current_dir(cwd.path())
        .env("VIGIL_VISION__ENGINE", "rten")
        .arg("analyze")
        .arg(photo())
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("1 face(s)"), "{stdout}");
}

#[test]
fn an_installed_binary_finds_the_models_in_share_beside_it() {
    // <prefix>/bin/vigil with <prefix>/share/vigil/models, run from elsewhere. The copy
    // lives next to the build output so a hard link (no 100 MB copy) usually works.
    let bin_dir = vigil_bin().parent().expect("bin dir").to_path_buf();
    let prefix = tempfile::tempdir_in(&bin_dir).expect("tempdir");
    std::fs::create_dir_all(prefix.path().join("bin")).expect("mkdir");
    let exe = prefix.path().join("bin/vigil");
    if std::fs::hard_link(vigil_bin(), &exe).is_err() {
        std::fs::copy(vigil_bin(), &exe).expect("copy binary");
    }
    let share = prefix.path().join("share/vigil");
    let models = detector_only_models(&share);
    std::fs::rename(&models, share.join("models")).expect("rename");
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut cmd = std::process::Command::new(&exe);
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIL_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("VIGIL_VISION__ENGINE", "rten")
        .current_dir(cwd.path())
        .arg("analyze")
        .arg(photo())
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let expected = std::fs::canonicalize(share.join("models")).expect("canonical");
    assert!(
        stderr.contains(&format!("1 models from {}", expected.display())),
        "models from <prefix>/share/vigil/models: {stderr}"
    );
    assert!(stdout.contains("1 face(s)"), "{stdout}");
}

#[test]
fn analyze_config_file_chooses_the_models_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = detector_only_models(dir.path());
    let config = dir.path().join("elsewhere.toml");
    std::fs::write(
        &config,
        format!(
            "[vision]\nmodels_dir = {:?}\nengine = \"rten\"\n",
            models.display().to_string()
        ),
    )
    .expect("write config");
    let out = vigil()
        .current_dir(dir.path())
        .arg("analyze")
        .arg("--config")
        .arg(&config)
        .arg(photo())
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("1 models from {}", models.display())),
        "{stderr}"
    );
    assert!(stdout.contains("engine rten"), "{stdout}");
    // Without the mask model the face has no mask label.
    assert!(
        stdout.contains("score") && stdout.trim_end().ends_with('-'),
        "{stdout}"
    );
}

#[test]
fn analyze_names_a_configured_models_folder_that_does_not_exist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-models");
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[vision]\nmodels_dir = {:?}\n",
            missing.display().to_string()
        ),
    )
    .expect("write config");
    let out = vigil()
        .current_dir(dir.path())
        .args(["analyze", "--config"])
        .arg(&config)
        .arg(photo())
        .output()
        .expect("run");
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("vision.models_dir"), "{stderr}");
}

#[test]
fn analyze_honours_vigil_vision_environment_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = detector_only_models(dir.path());
    let out = vigil()
        .current_dir(dir.path())
        .env("VIGIL_VISION__ENGINE", "rten")
        .env("VIGIL_VISION__MODELS_DIR", &models)
        .arg("analyze")
        .arg(photo())
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("engine rten"), "{stdout}");
    assert!(stderr.contains(&models.display().to_string()), "{stderr}");

    let missing = dir.path().join("gone");
    let out = vigil()
        .current_dir(dir.path())
        .env("VIGIL_VISION__MODELS_DIR", &missing)
        .arg("analyze")
        .arg(photo())
        .output()
        .expect("run");
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}

#[test]
fn analyze_applies_the_configured_decode_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[limits]\nimage_max_dimension = 320\n[vision]\nengine = \"rten\"\n",
    )
    .expect("write config");
    // ./vigil.toml is read by default, as `vigil serve` reads it.
    let out = vigil()
        .current_dir(dir.path())
        .arg("analyze")
        .arg(photo())
        .output()
        .expect("run");
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "a 640×480 image is over 320 px");
    assert!(stderr.contains("too large"), "{stderr}");
}

#[test]
fn a_flag_given_wins_over_the_configuration_and_one_not_given_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[vision]\nengine = \"onnxruntime\"\nonnxruntime_path = \"/nonexistent/libonnxruntime.so\"\n",
    )
    .expect("write config");
    let configured = vigil()
        .current_dir(dir.path())
        .arg("analyze")
        .arg(photo())
        .output()
        .expect("run");
    let (_, stderr) = text(&configured);
    assert!(
        !configured.status.success(),
        "the configured engine is used"
    );
    assert!(
        stderr.contains("/nonexistent/libonnxruntime.so"),
        "{stderr}"
    );

    let flagged = vigil()
        .current_dir(dir.path())
        .args(["analyze", "--engine", "rten"])
        .arg(photo())
        .output()
        .expect("run");
    let (stdout, stderr) = text(&flagged);
    assert!(flagged.status.success(), "{stderr}");
    assert!(stdout.contains("engine rten"), "{stdout}");
}
