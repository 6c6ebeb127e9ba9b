//! The binary's command line: help, wrong arguments and user mistakes, and `admin create` /
//! `admin grant` / `admin revoke`, both as library functions and as the real binary against
//! the test's database, checked through login (the roles in the access token).

use crate::helpers::{Accounts, TestApp, pool, spawn_app, token_roles, unique_email, unique_phone};
use auth_service::admin::{self, AdminError, NewAdmin, Outcome};
use reqwest::StatusCode;
use serde_json::json;
use servicekit::auth::{Role, Roles};
use servicekit::testing::cli;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_auth-service");
const PASSWORD: &str = "admin password 1";

fn new_admin(email: &str, phone: Option<&str>, password: Option<&str>) -> NewAdmin {
    NewAdmin {
        email: email.to_owned(),
        password: password.map(Into::into),
        name: "Ops Team".to_owned(),
        phone: phone.map(str::to_owned),
    }
}

/// The roles in the access token that logging in with `email` and `password` gives.
async fn roles_after_login(app: &TestApp, email: &str, password: &str) -> Roles {
    let tokens = app.login(email, password).await;
    token_roles(tokens["access_token"].as_str().unwrap())
}

fn admin() -> Roles {
    Roles::of(&[Role::Admin])
}

fn invalid(result: Result<Outcome, AdminError>) -> String {
    match result {
        Err(AdminError::Invalid(message)) => message,
        other => panic!("expected an invalid input, got {other:?}"),
    }
}

#[test]
fn help_and_version_describe_the_commands() {
    cli::assert_help(
        BIN,
        &[],
        &["serve", "migrate", "admin", "APP_DATABASE__URL"],
    );
    cli::assert_help(BIN, &["admin"], &["create", "grant", "revoke"]);
    cli::assert_help(
        BIN,
        &["admin", "create"],
        &[
            "--email <EMAIL>",
            "--password <PASSWORD>",
            "RAILRUSH_ADMIN_PASSWORD",
            "[default: Administrator]",
            "--phone <E164>",
        ],
    );
    cli::assert_help(
        BIN,
        &["admin", "grant"],
        &["--email <EMAIL>", "--role <ROLE>", "conductor", "admin"],
    );
    cli::assert_help(
        BIN,
        &["admin", "revoke"],
        &["--email <EMAIL>", "--role <ROLE>", "[default: admin]"],
    );
    cli::assert_version(BIN, "auth-service", env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_wrong_argument_is_refused_with_the_usage() {
    cli::assert_refused(BIN, &["--email", "a@example.com"], "Usage: auth-service");
    // Without its subcommand, `admin` shows its help (the commands) as a usage error.
    let bare = cli::run(BIN, &["admin"], &[]);
    assert_eq!(bare.status, Some(2), "{bare:?}");
    assert!(bare.stdout.is_empty(), "{bare:?}");
    assert!(
        bare.stderr.contains("Usage: auth-service admin <COMMAND>"),
        "{bare:?}"
    );
    cli::assert_refused(
        BIN,
        &["admin", "create", "--password", PASSWORD],
        "--email <EMAIL>",
    );
    cli::assert_refused(
        BIN,
        &[
            "admin",
            "create",
            "--email",
            "a@example.com",
            "--role",
            "admin",
        ],
        "Usage: auth-service admin create",
    );
    cli::assert_refused(
        BIN,
        &[
            "admin",
            "grant",
            "--email",
            "a@example.com",
            "--role",
            "passenger",
        ],
        "[possible values: conductor, admin]",
    );
    cli::assert_refused(
        BIN,
        &["admin", "grant", "--email", "a@example.com"],
        "--role <ROLE>",
    );
}

#[test]
fn a_settings_value_that_does_not_parse_is_one_line_without_a_backtrace() {
    cli::assert_one_line_error(
        BIN,
        &["admin", "revoke", "--email", "a@example.com"],
        &[("APP_DATABASE__MAX_SIZE", "many")],
        "error: loading the settings of auth-service: ",
    );
}

#[tokio::test]
async fn serve_without_its_stores_and_signing_key_fails_in_one_line() {
    let app = spawn_app().await;
    let url = cli::database_url(&app.env);
    tokio::task::spawn_blocking(move || {
        cli::assert_one_line_error(
            BIN,
            &[],
            &[
                ("APP_DATABASE__URL", url.as_str()),
                ("APP_REDIS__URL", "redis://127.0.0.1:1"),
                ("APP_AMQP__URL", "amqp://guest:guest@127.0.0.1:1/%2f"),
                ("APP_HTTP__PORT", "0"),
            ],
            "error: ",
        )
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn admin_create_makes_an_account_that_logs_in_as_admin_and_is_announced() {
    let app = spawn_app().await;
    let (email, phone) = (unique_email(), unique_phone());
    let outcome = admin::create(&pool(&app), new_admin(&email, Some(&phone), Some(PASSWORD)))
        .await
        .unwrap();
    let Outcome::Created { id, email: stored } = &outcome else {
        panic!("expected Created, got {outcome:?}");
    };
    assert_eq!(stored, &email);
    assert_eq!(
        outcome.to_string(),
        format!("created the admin account {email} ({id})")
    );
    assert_eq!(roles_after_login(&app, &email, PASSWORD).await, admin());

    let db = app.db().await;
    let row = db
        .query_one(
            "SELECT name, phone, password_hash LIKE '$argon2id$%' FROM users WHERE id = $1",
            &[id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "Ops Team");
    assert_eq!(row.get::<_, &str>(1), phone);
    assert!(row.get::<_, bool>(2));
    let announced: i64 = db
        .query_one(
            "SELECT count(*) FROM outbox WHERE kind = 'user.registered' \
             AND payload->>'user_id' = $1 AND payload->>'phone' = $2",
            &[&id.to_string(), &phone],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(announced, 1);
}

#[tokio::test]
async fn admin_create_promotes_an_existing_account_and_keeps_its_password() {
    let app = spawn_app().await;
    let user = app.register().await;
    assert_eq!(
        roles_after_login(&app, &user.email, &user.password).await,
        Roles::PASSENGER
    );
    let pool = pool(&app);
    let id = Uuid::parse_str(&user.id).unwrap();

    let outcome = admin::create(&pool, new_admin(&user.email, None, Some(PASSWORD)))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Promoted {
            id,
            email: user.email.clone()
        }
    );
    assert!(outcome.to_string().contains("its password is unchanged"));
    assert_eq!(
        roles_after_login(&app, &user.email, &user.password).await,
        admin()
    );
    let with_the_given_password = app
        .post_json(
            "/api/auth/login",
            &json!({"login": user.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(with_the_given_password.status(), StatusCode::UNAUTHORIZED);

    let again = admin::create(&pool, new_admin(&user.email.to_uppercase(), None, None))
        .await
        .unwrap();
    assert_eq!(
        again,
        Outcome::AlreadyAdmin {
            id,
            email: user.email.clone()
        }
    );
}

#[tokio::test]
async fn admin_create_refuses_what_registration_refuses_and_what_creating_needs() {
    let app = spawn_app().await;
    let pool = pool(&app);
    let taken = app.register().await;
    let (email, phone) = (unique_email(), unique_phone());
    for (input, expected) in [
        (
            new_admin("not-an-email", Some(&phone), Some(PASSWORD)),
            "--email: 'not-an-email' is not a valid e-mail address",
        ),
        (
            new_admin(&email, Some(&phone), Some("short")),
            "--password: the password must be 8 to 128 characters long",
        ),
        (
            new_admin(&email, Some("01712345678"), Some(PASSWORD)),
            "--phone: the phone number must be in E.164 form",
        ),
        (
            NewAdmin {
                name: " ".into(),
                ..new_admin(&email, Some(&phone), Some(PASSWORD))
            },
            "--name: the name must be 1 to 100 characters long",
        ),
        (
            new_admin(&email, Some(&phone), None),
            "--password is needed to create one",
        ),
        (
            new_admin(&email, Some(&taken.phone), Some(PASSWORD)),
            "--phone: another account has the phone number",
        ),
    ] {
        let message = invalid(admin::create(&pool, input).await);
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    let db = app.db().await;
    let users: i64 = db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 1, "only the registered account exists");
}

/// The contract's own words: `auth-service admin create --email E --password P`, unattended,
/// makes the first admin; without a phone it signs in by e-mail.
#[tokio::test]
async fn admin_create_with_only_an_email_and_a_password_makes_an_admin() {
    let app = spawn_app().await;
    let url = cli::database_url(&app.env);
    let email = unique_email();
    let created = {
        let email = email.clone();
        tokio::task::spawn_blocking(move || {
            cli::assert_succeeds(
                BIN,
                &["admin", "create", "--email", &email, "--password", PASSWORD],
                &[("APP_DATABASE__URL", url.as_str())],
            )
        })
        .await
        .unwrap()
    };
    assert!(
        created.stdout.starts_with(&format!(
            "auth-service: created the admin account {email} ("
        )),
        "{created:?}"
    );
    let tokens = app.login(&email, PASSWORD).await;
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(token_roles(token), admin());
    let me = app.with_token(token).get_json("/api/auth/me").await;
    assert_eq!(me["user"]["phone"], serde_json::Value::Null);
    assert_eq!(me["user"]["roles"], json!(["admin", "passenger"]));
    let phone: String = app
        .db()
        .await
        .query_one(
            "SELECT payload->>'phone' FROM outbox WHERE kind = 'user.registered' \
             AND payload->>'email' = $1",
            &[&email],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(phone, "", "announced without a phone");
    // A second phoneless operator account: no phone is no conflict.
    let other = admin::create(
        &pool(&app),
        new_admin(&unique_email(), None, Some(PASSWORD)),
    )
    .await
    .unwrap();
    assert!(matches!(other, Outcome::Created { .. }), "{other:?}");
}

#[tokio::test]
async fn admin_revoke_takes_the_role_back_and_the_account_stays() {
    let app = spawn_app().await;
    let pool = pool(&app);
    let (email, phone) = (unique_email(), unique_phone());
    let Outcome::Created { id, .. } =
        admin::create(&pool, new_admin(&email, Some(&phone), Some(PASSWORD)))
            .await
            .unwrap()
    else {
        panic!("not created");
    };

    let revoked = admin::revoke(&pool, &email, Role::Admin).await.unwrap();
    assert_eq!(
        revoked,
        Outcome::Revoked {
            id,
            email: email.clone(),
            role: Role::Admin
        }
    );
    assert_eq!(
        roles_after_login(&app, &email, PASSWORD).await,
        Roles::PASSENGER
    );
    let again = admin::revoke(&pool, &email, Role::Admin).await.unwrap();
    assert_eq!(
        again,
        Outcome::NotHeld {
            id,
            email: email.clone(),
            role: Role::Admin
        }
    );
    assert_eq!(
        again.to_string(),
        format!("{email} ({id}) is not an admin: nothing changed")
    );
    let message = invalid(admin::revoke(&pool, &unique_email(), Role::Admin).await);
    assert!(message.starts_with("no account has the e-mail address"));
}

#[tokio::test]
async fn admin_grant_gives_a_role_that_revoke_takes_back_and_admin_is_kept() {
    let app = spawn_app().await;
    let pool = pool(&app);
    let user = app.register().await;
    let id = Uuid::parse_str(&user.id).unwrap();
    let email = user.email.clone();

    let granted = admin::grant(&pool, &email, Role::Conductor).await.unwrap();
    assert_eq!(
        granted,
        Outcome::Granted {
            id,
            email: email.clone(),
            role: Role::Conductor
        }
    );
    assert!(granted.to_string().contains("is a conductor now"));
    assert_eq!(
        roles_after_login(&app, &email, &user.password).await,
        Roles::of(&[Role::Conductor])
    );
    let again = admin::grant(&pool, &email, Role::Conductor).await.unwrap();
    assert_eq!(
        again.to_string(),
        format!("{email} ({id}) is already a conductor: nothing changed")
    );

    // Both roles at once; taking one leaves the other.
    admin::create(&pool, new_admin(&email, None, None))
        .await
        .unwrap();
    assert_eq!(
        roles_after_login(&app, &email, &user.password).await,
        Roles::of(&[Role::Admin, Role::Conductor])
    );
    let revoked = admin::revoke(&pool, &email, Role::Conductor).await.unwrap();
    assert!(matches!(
        revoked,
        Outcome::Revoked {
            role: Role::Conductor,
            ..
        }
    ));
    assert_eq!(
        roles_after_login(&app, &email, &user.password).await,
        admin()
    );

    let message = invalid(admin::grant(&pool, &unique_email(), Role::Conductor).await);
    assert!(message.starts_with("no account has the e-mail address"));
    let message = invalid(admin::grant(&pool, &email, Role::Passenger).await);
    assert!(
        message.starts_with("--role: every account is a passenger"),
        "{message}"
    );
}

#[tokio::test]
async fn the_binary_creates_revokes_and_reports_a_mistake_in_one_line() {
    let app = spawn_app().await;
    let url = cli::database_url(&app.env);
    let (email, phone) = (unique_email(), unique_phone());
    let (created, again, mistake, granted, revoked) = {
        let (email, phone) = (email.clone(), phone.clone());
        tokio::task::spawn_blocking(move || {
            let db = ("APP_DATABASE__URL", url.as_str());
            let create = ["admin", "create", "--email", &email, "--phone", &phone];
            let created =
                cli::assert_succeeds(BIN, &create, &[db, ("RAILRUSH_ADMIN_PASSWORD", PASSWORD)]);
            let again = cli::assert_succeeds(BIN, &create, &[db]);
            let mistake = cli::assert_one_line_error(
                BIN,
                &["admin", "create", "--email", "ops@", "--password", PASSWORD],
                &[db],
                "error: --email: 'ops@' is not a valid e-mail address",
            );
            let granted = cli::assert_succeeds(
                BIN,
                &["admin", "grant", "--email", &email, "--role", "conductor"],
                &[db],
            );
            let revoked = cli::assert_succeeds(BIN, &["admin", "revoke", "--email", &email], &[db]);
            (created, again, mistake, granted, revoked)
        })
        .await
        .unwrap()
    };
    let id: Uuid = app
        .db()
        .await
        .query_one("SELECT id FROM users WHERE email = $1", &[&email])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        created.stdout,
        format!("auth-service: created the admin account {email} ({id})\n")
    );
    assert_eq!(
        again.stdout,
        format!(
            "auth-service: {email} ({id}) is already an admin: nothing changed, its password is unchanged\n"
        )
    );
    assert!(mistake.stdout.is_empty(), "{mistake:?}");
    assert_eq!(
        granted.stdout,
        format!(
            "auth-service: {email} ({id}) is a conductor now (from its next sign-in or token refresh)\n"
        )
    );
    assert!(
        revoked.stdout.starts_with(&format!(
            "auth-service: {email} ({id}) is no longer an admin"
        )),
        "{revoked:?}"
    );
    assert_eq!(
        roles_after_login(&app, &email, PASSWORD).await,
        Roles::of(&[Role::Conductor])
    );
}
