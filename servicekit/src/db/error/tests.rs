//! Classification by SQLSTATE, and against a real server: a terminated backend (57P01) and
//! a unique violation. The server is `TEST_DATABASE_URL` (default: local `postgres`).

use super::*;
use actix_web::ResponseError;
use actix_web::http::StatusCode;
use tokio_postgres::NoTls;

fn database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn connect() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&database_url(), NoTls)
        .await
        .expect("TEST_DATABASE_URL reachable");
    tokio::spawn(connection);
    client
}

#[test]
fn connection_class_sqlstates_mean_the_connection_is_lost() {
    for code in [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::CONNECTION_EXCEPTION,
        SqlState::CONNECTION_FAILURE,
        SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
    ] {
        assert!(is_connection_lost(&code), "{code:?}");
    }
    for code in [
        SqlState::UNIQUE_VIOLATION,
        SqlState::SYNTAX_ERROR,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::QUERY_CANCELED,
    ] {
        assert!(!is_connection_lost(&code), "{code:?}");
    }
}

#[tokio::test]
async fn a_backend_terminated_by_the_server_is_unavailable_and_answers_503() {
    let victim = connect().await;
    let admin = connect().await;
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    let sleeping = tokio::spawn(async move {
        victim
            .query_one("SELECT pg_sleep(30)::text", &[])
            .await
            .map(|_| ())
    });
    // Terminate once the sleep is running, so the error arrives as 57P01 on the query.
    let mut terminated = false;
    for _ in 0..250 {
        let active: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active')",
                &[&pid],
            )
            .await
            .expect("activity")
            .get(0);
        if active {
            terminated = admin
                .query_one("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .expect("terminate")
                .get(0);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(terminated, "the backend was never seen running the query");
    let error = sleeping.await.expect("join").expect_err("the query fails");
    assert_eq!(error.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{error:?}");

    let db = DbError::from(error);
    assert!(db.is_unavailable(), "{db:?}");
    let api = ApiError::from(db);
    assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(api.code(), crate::error::Code::Unavailable);
    let body = actix_web::body::to_bytes(api.error_response().into_body())
        .await
        .expect("body");
    let body = String::from_utf8_lossy(&body);
    assert!(!body.contains("terminat"), "no internals: {body}");
    assert!(
        format!("{:#}", api.cause().expect("cause kept")).contains("terminating connection"),
        "the chain keeps the server's message"
    );
}

#[tokio::test]
async fn a_unique_violation_is_classified_by_constraint_name_and_is_ours_unless_named() {
    let db = connect().await;
    db.batch_execute(
        "CREATE TEMP TABLE seats_taken (seat int CONSTRAINT seats_taken_seat_key UNIQUE)",
    )
    .await
    .expect("temp table");
    db.execute("INSERT INTO seats_taken VALUES (1)", &[])
        .await
        .expect("first insert");
    let error = db
        .execute("INSERT INTO seats_taken VALUES (1)", &[])
        .await
        .expect_err("second insert refused");

    let error = DbError::from(error);
    assert!(
        error.is_unique_violation("seats_taken_seat_key"),
        "{error:?}"
    );
    assert!(!error.is_unique_violation("another_key"));
    assert!(!error.is_unavailable());
    let api = ApiError::from(error);
    assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(api.code(), crate::error::Code::Internal);
}

#[tokio::test]
async fn other_statement_failures_are_ours_and_a_closed_client_is_unavailable() {
    let db = connect().await;
    let error = db
        .execute("SELECT no_such_column FROM pg_class", &[])
        .await
        .expect_err("undefined column");
    let error = DbError::from(error);
    assert!(matches!(error, DbError::Other(_)), "{error:?}");
    assert_eq!(
        ApiError::from(error).status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );

    let (client, connection) = tokio_postgres::connect(&database_url(), NoTls)
        .await
        .expect("connect");
    drop(connection);
    let error = client.simple_query("SELECT 1").await.expect_err("closed");
    let error = DbError::from(error);
    assert!(error.is_unavailable(), "{error:?}");
}
