//! Display names sent with an upload: kept as a label only, never used as a path.
//!
//! Free of crate dependencies on purpose: the fuzz target `upload_body` compiles this
//! file as it is (see `fuzz/`).

/// Keeps a display name printable and path-free: the last path component, control
/// characters removed, at most 200 characters, trimmed; `None` if nothing is left.
pub fn sanitise_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty() && clean != "." && clean != "..").then_some(clean)
}
