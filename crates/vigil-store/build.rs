//! `sqlx::migrate!` embeds the migration files at compile time, but cargo only rebuilds a
//! crate when its sources change: without this, a new or edited migration would be left
//! out of the binary until some `.rs` file of this crate changed too.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
