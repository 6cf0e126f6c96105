//! The identity use cases against a real SQLite file: each flow does its whole job
//! (change, sessions, audit record) and fails with a specific error.

use vigil_config::Settings;
use vigil_core::accounts::{NewUser, UserChange};
use vigil_core::apikeys::{KeyExpiry, NewApiKey};
use vigil_core::login::{ClientInfo, LoginAttempt};
use vigil_core::{Actor, Error, Identity, Principal, PrincipalKind, Role, UserId};

const PASSWORD: &str = "a long enough passphrase";

async fn identity(dir: &tempfile::TempDir) -> Identity {
    let mut settings = Settings {
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    // Cheap hashing: these tests exercise flows, not Argon2.
    settings.auth.argon2_memory_kib = 64;
    settings.auth.argon2_iterations = 1;
    Identity::open(&settings).await.expect("identity")
}

fn new_user(name: &str, role: Role) -> NewUser {
    NewUser {
        username: name.into(),
        password: PASSWORD.into(),
        role,
    }
}

async fn actions(identity: &Identity) -> Vec<String> {
    let page = identity
        .audit_page(&Actor::cli(), vigil_core::audit::AuditQuery::default())
        .await
        .expect("audit page");
    page.items.into_iter().rev().map(|r| r.action).collect()
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let id = identity(&dir).await;
    let cli = Actor::cli();
    id.create_user(&cli, new_user("root", Role::Admin))
        .await
        .unwrap();
    let bob = id
        .create_user(&cli, new_user("Bob", Role::Viewer))
        .await
        .unwrap();
    assert_eq!(bob.username, "bob");
    let bob_id = UserId::parse(&bob.id).unwrap();

    let signed_in = id
        .login(
            LoginAttempt {
                username: "BOB".into(),
                password: PASSWORD.into(),
                totp: None,
            },
            ClientInfo::default(),
        )
        .await
        .unwrap();
    assert!(!signed_in.must_enroll_totp);
    assert!(id
        .authenticate_session(&signed_in.started.cookie_value)
        .await
        .unwrap()
        .is_some());

    let change = UserChange {
        role: None,
        disabled: Some(true),
    };
    let after = id.update_user(&cli, &bob_id, change).await.unwrap();
    assert!(after.disabled);
    assert!(id.list_sessions(&bob_id).await.unwrap().is_empty());
    assert!(id
        .authenticate_session(&signed_in.started.cookie_value)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        actions(&id).await,
        ["user.create", "user.create", "auth.login", "user.update"]
    );
    id.close().await;
}

#[tokio::test]
async fn refusals_are_specific() {
    let dir = tempfile::tempdir().unwrap();
    let id = identity(&dir).await;
    let cli = Actor::cli();
    let root = id
        .create_user(&cli, new_user("root", Role::Admin))
        .await
        .unwrap();
    let root_id = UserId::parse(&root.id).unwrap();

    let short = NewUser {
        password: "short".into(),
        ..new_user("eve", Role::Viewer)
    };
    assert!(matches!(
        id.create_user(&cli, short).await,
        Err(Error::PasswordTooShort { min: 12 })
    ));
    assert!(matches!(
        id.create_user(&cli, new_user("no spaces", Role::Viewer))
            .await,
        Err(Error::InvalidUsername)
    ));
    assert!(matches!(
        id.create_user(&cli, new_user("ROOT", Role::Viewer)).await,
        Err(Error::UsernameTaken(name)) if name == "root"
    ));
    let demote = UserChange {
        role: Some(Role::Viewer),
        disabled: None,
    };
    assert!(matches!(
        id.update_user(&cli, &root_id, demote).await,
        Err(Error::LastAdmin)
    ));
    assert!(matches!(
        id.delete_user(&cli, &root_id).await,
        Err(Error::LastAdmin)
    ));
    let wrong = LoginAttempt {
        username: "root".into(),
        password: "not the passphrase".into(),
        totp: None,
    };
    assert!(matches!(
        id.login(wrong, ClientInfo::default()).await,
        Err(Error::BadCredentials)
    ));
    assert!(matches!(
        id.reset_password("no-such-token", PASSWORD, None).await,
        Err(Error::InvalidToken)
    ));

    let operator = Principal {
        id: "ffffffffffffffffffffffffffffffff".into(),
        name: "ops".into(),
        role: Role::Operator,
        kind: PrincipalKind::ApiKey,
    };
    let key = |role, days| NewApiKey {
        name: "door camera".into(),
        role,
        expiry: KeyExpiry::from_days(days),
    };
    assert!(matches!(
        id.create_api_key(&cli, Some(&operator), key(Role::Admin, None), None)
            .await,
        Err(Error::RoleAboveCreator)
    ));
    // An API key has no password to confirm with: it cannot create keys at all.
    assert!(matches!(
        id.create_api_key(&cli, Some(&operator), key(Role::Viewer, None), Some("x"))
            .await,
        Err(Error::ReauthRequired(_))
    ));
    assert!(matches!(
        id.create_api_key(&cli, None, key(Role::Viewer, Some(0)), None)
            .await,
        Err(Error::InvalidExpiry(_))
    ));
    let created = id
        .create_api_key(&cli, None, key(Role::Operator, Some(30)), None)
        .await
        .unwrap();
    let found = id
        .authenticate_api_key(&created.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, created.api_key.id);
    id.close().await;
}

#[tokio::test]
async fn bootstrap_link_is_offered_once_and_only_without_users() {
    let dir = tempfile::tempdir().unwrap();
    let id = identity(&dir).await;
    let link = id
        .bootstrap_link("http://127.0.0.1:8000/")
        .await
        .unwrap()
        .expect("a link on an empty server");
    let token = link
        .strip_prefix("http://127.0.0.1:8000/setup#token=")
        .expect("link shape");
    assert!(matches!(
        id.bootstrap_admin(token, "admin", "short", None).await,
        Err(Error::PasswordTooShort { .. })
    ));
    let admin = id
        .bootstrap_admin(token, "admin", PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert!(matches!(
        id.bootstrap_admin(token, "admin2", PASSWORD, None).await,
        Err(Error::InvalidToken)
    ));
    assert!(id.bootstrap_link("http://x").await.unwrap().is_none());
    id.close().await;
}
