//! File modes and secrets on the command line, with the real binary: under `umask 000`
//! the data folders are still 0700 and the database files and backups 0600; folders an
//! older Vigil left open are tightened at start; and `pg_dump`/`pg_restore` never see
//! the database password in their arguments.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::Connection;

use crate::harness::{
    drop_pg_database, fresh_pg_database, png, postgres_url, vigil, vigil_bin, ChildServer,
};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// `vigil ARGS…` run by `sh` after `umask 000`, with [`vigil`]'s clean environment.
fn vigil_umask_000() -> Command {
    let clean = vigil();
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(vigil_bin())
        .stdin(std::process::Stdio::null());
    for (k, v) in clean.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn umask_000_still_gives_private_folders_database_and_backups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");

    // The first command creates the data folder and the database.
    ok(vigil_umask_000()
        .arg("migrate")
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("run vigil migrate"));
    assert_eq!(mode(&data), 0o700, "a fresh data folder");
    assert_eq!(mode(&data.join("vigil.db")), 0o600, "a fresh SQLite file");

    // A running server: WAL files, blob folders, a stored upload.
    let mut serve = vigil_umask_000();
    serve.env("VIGIL_LOG__LEVEL", "info");
    let server = ChildServer::start_cmd(serve, &data);
    let resp = server
        .client()
        .post(server.url("/api/v1/uploads"))
        .body(png(7))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
    for file in ["vigil.db", "vigil.db-wal", "vigil.db-shm"] {
        assert_eq!(
            mode(&data.join(file)),
            0o600,
            "{file} while the server runs"
        );
    }
    let blobs = data.join("blobs");
    assert_eq!(mode(&blobs), 0o700, "the blob folder");
    assert_eq!(mode(&blobs.join(".tmp")), 0o700, "the blob staging folder");
    for shard in std::fs::read_dir(&blobs).expect("list blobs").flatten() {
        assert_eq!(mode(&shard.path()), 0o700, "{}", shard.path().display());
    }

    // `umask 000; vigil backup X` while the server runs.
    let archive = dir.path().join("backups").join("b.tar");
    ok(vigil_umask_000()
        .arg("backup")
        .arg(&archive)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("run vigil backup"));
    assert_eq!(mode(&archive), 0o600, "the backup archive");
    assert_eq!(mode(archive.parent().expect("parent")), 0o700);
    // Overwriting an archive made readable by someone else makes it private again.
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    ok(vigil_umask_000()
        .arg("backup")
        .arg(&archive)
        .arg("--force")
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("run vigil backup --force"));
    assert_eq!(mode(&archive), 0o600, "an overwritten backup archive");
    drop(server);

    // A restore writes a private database too.
    let restored = dir.path().join("restored");
    ok(vigil_umask_000()
        .arg("restore")
        .arg(&archive)
        .arg("--data-dir")
        .arg(&restored)
        .output()
        .expect("run vigil restore"));
    assert_eq!(mode(&restored), 0o700, "the restored data folder");
    assert_eq!(
        mode(&restored.join("vigil.db")),
        0o600,
        "the restored database"
    );
    assert_eq!(
        mode(&restored.join("blobs")),
        0o700,
        "the restored blob folder"
    );
}

#[test]
fn folders_and_files_an_older_vigil_left_open_are_tightened_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(vigil()
        .arg("migrate")
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("run vigil migrate"));
    // What an older Vigil under a 022 umask left behind.
    let open = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    open(&data, 0o755);
    open(&data.join("vigil.db"), 0o644);

    let out = ok(vigil()
        .env("VIGIL_LOG__LEVEL", "info")
        .arg("migrate")
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("run vigil migrate"));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("vigil.db")), 0o600);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("tightened the permissions") && log.contains("755"),
        "the change is logged at INFO with the old mode:\n{log}"
    );
}

/// The real `pg_dump`/`pg_restore` on `PATH`.
fn real_tool(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (Debian: postgresql-client)"))
}

/// A folder with `pg_dump` and `pg_restore` scripts that record what they were started
/// with (arguments, the kernel's view of their command line as `ps` shows it, the names
/// of their environment variables, the password file's mode and content) into
/// `<tool>.record`, then run the real tool.
fn recording_wrappers(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    for tool in ["pg_dump", "pg_restore"] {
        let record = dir.join(format!("{tool}.record"));
        let script = format!(
            r#"#!/bin/sh
{{
  printf 'argv:'; for a in "$@"; do printf ' [%s]' "$a"; done; printf '\n'
  printf 'cmdline: '; tr '\000' ' ' < /proc/$$/cmdline; printf '\n'
  env | cut -d= -f1 | sed 's/^/env: /'
  if [ -n "$PGPASSFILE" ]; then
    printf 'passfile mode: %s\n' "$(stat -c %a "$PGPASSFILE")"
    printf 'passfile: %s\n' "$(cat "$PGPASSFILE")"
  fi
}} > '{record}'
exec '{real}' "$@"
"#,
            record = record.display(),
            real = real_tool(tool).display(),
        );
        let path = bin.join(tool);
        std::fs::write(&path, script).expect("write wrapper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    bin
}

async fn admin_exec(admin: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(admin)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_dump_and_pg_restore_never_get_the_password_on_their_command_line() {
    let Some(admin) = postgres_url() else {
        eprintln!(
            "note: PostgreSQL test skipped (set VIGIL_TEST_DATABASE_URL=postgres://… to run it)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let suffix = hex::encode(rand::random::<[u8; 4]>());
    let role = format!("vigil_pw_{suffix}");
    // `:` and `\` must be escaped in a .pgpass line; `@` and `:` percent-encoded in a URL.
    let password = format!("Pw:{suffix}@x\\y");
    let encoded = password
        .replace('%', "%25")
        .replace(':', "%3A")
        .replace('@', "%40")
        .replace('\\', "%5C");
    admin_exec(
        &admin,
        &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
    )
    .await;
    let source = fresh_pg_database(&admin).await;
    let target = fresh_pg_database(&admin).await;
    let with_password = |url: &str| {
        let (_, rest) = url.split_once('@').expect("URL with a user");
        format!("postgres://{role}:{encoded}@{rest}")
    };
    for db in [&source, &target] {
        let name = db.rsplit_once('/').expect("database name").1;
        admin_exec(&admin, &format!("ALTER DATABASE {name} OWNER TO {role}")).await;
        admin_exec(
            &format!("{}/{name}", admin.rsplit_once('/').expect("db").0),
            &format!("ALTER SCHEMA public OWNER TO {role}"),
        )
        .await;
    }

    let bin = recording_wrappers(dir.path());
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let data = dir.path().join("data");
    let run = |args: &[&str], url: &str| {
        ok(vigil()
            .env("DATABASE_URL", url)
            .env("PATH", &path)
            // A password in the environment must not win over the URL's.
            .env("PGPASSWORD", "not-this-one")
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("run vigil"))
    };
    let archive = dir.path().join("pg.tar");
    let archive_arg = archive.to_string_lossy().into_owned();
    run(&["migrate"], &with_password(&source));
    run(&["backup", &archive_arg], &with_password(&source));
    run(
        &["restore", &archive_arg, "--force"],
        &with_password(&target),
    );

    for tool in ["pg_dump", "pg_restore"] {
        let record = std::fs::read_to_string(dir.path().join(format!("{tool}.record")))
            .unwrap_or_else(|e| panic!("{tool} was not run through the wrapper: {e}"));
        let lines: Vec<&str> = record.lines().collect();
        let command_line: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("argv:") || l.starts_with("cmdline:"))
            .collect();
        assert_eq!(command_line.len(), 2, "{record}");
        for line in &command_line {
            for secret in [password.as_str(), encoded.as_str()] {
                assert!(
                    !line.contains(secret),
                    "{tool}'s command line holds the password: {line}"
                );
            }
            assert!(
                line.contains(&format!("postgres://{role}@")),
                "{tool} is told whom to connect as: {line}"
            );
        }
        assert!(lines.contains(&"env: PGPASSFILE"), "{record}");
        assert!(
            !lines.contains(&"env: PGPASSWORD"),
            "{tool} gets no PGPASSWORD:\n{record}"
        );
        assert!(lines.contains(&"passfile mode: 600"), "{record}");
        let escaped = password.replace('\\', "\\\\").replace(':', "\\:");
        assert!(
            lines.contains(&format!("passfile: *:*:*:*:{escaped}").as_str()),
            "the password reaches {tool} through the file:\n{record}"
        );
    }
    assert_eq!(mode(&archive), 0o600);
    // The restore worked: the target holds the schema the source had.
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&target)
        .await
        .expect("connect");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .expect("the restored database has its tables");
    assert!(users >= 0);
    let _ = conn.close().await;

    for db in [&source, &target] {
        drop_pg_database(&admin, db).await;
    }
    admin_exec(&admin, &format!("DROP ROLE IF EXISTS {role}")).await;
}
