//! The layering rule, checked on the sources: HTTP handlers (`vigil-server/src/routes/`)
//! and CLI commands (`vigil/src/commands/`) parse input, call one `vigil-core` function
//! and map the result. They never reach storage themselves: no `vigil_store` or
//! `vigil_auth` paths (core re-exports the plain types they need: `Role`, `User`…),
//! no database or blob-store handle, no SQL.
//!
//! A failure names file and line. To fix one, add (or use) a use case in `vigil-core`
//! and call it; a genuine exception goes in [`ALLOWED`] with a comment saying why.

use std::path::{Path, PathBuf};

/// What a front end must not name, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("vigil_store", "the store crate: call a vigil-core use case"),
    (
        "vigil_auth",
        "the identity storage crate: call a vigil-core use case (plain types are re-exported from vigil_core)",
    ),
    ("state.db", "the database handle: call a vigil-core use case"),
    ("state.blobs", "the blob store: call a vigil-core use case"),
    ("identity.db", "the database behind Identity: call one of its use cases"),
    ("identity.audit.", "the audit log itself: use cases write it, `audit_page`/`audit_export` read it"),
    ("sqlx::", "SQL belongs in vigil-store or vigil-auth"),
];

/// Exceptions: (file relative to the workspace, forbidden text, why). Empty on purpose;
/// an entry needs a reason a reviewer accepts.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// Folders whose every `.rs` file must obey the rule.
const FRONT_ENDS: &[&str] = &[
    "crates/vigil-server/src/routes",
    "crates/vigil/src/commands",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every violation in `source` (named `file`), as `file:line: text (why)`.
fn violations(file: &str, source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.trim_start();
        // Comments may name the crates (documentation explains the layering).
        if code.starts_with("//") {
            continue;
        }
        for (text, why) in FORBIDDEN {
            let allowed = ALLOWED.iter().any(|(f, t, _)| *f == file && t == text);
            if code.contains(text) && !allowed {
                found.push(format!(
                    "{file}:{}: `{}` uses {text} ({why})",
                    n + 1,
                    code.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn the_check_catches_storage_calls_and_ignores_comments() {
    let sample = "//! Calls `vigil_store` through core.\n\
                  use vigil_core::Role;\n\
                  let rows = vigil_store::uploads::list(&state.db, 10).await?;\n";
    let found = violations("routes/x.rs", sample);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("routes/x.rs:3: "), "{found:#?}");
}

#[test]
fn routes_and_commands_call_the_core_not_storage() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in FRONT_ENDS {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() > 10, "found only {files:?}: wrong folders?");
    let mut found = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).expect("read source");
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        found.extend(violations(&name, &source));
    }
    assert!(
        found.is_empty(),
        "{} place(s) in routes/commands reach storage directly; call a vigil-core use case \
         instead:\n{}",
        found.len(),
        found.join("\n")
    );
}
