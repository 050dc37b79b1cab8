//! The migrations revert cleanly, and the `migrate` and `create-admin` commands work.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use shared::migrate::{self, Revert};

use crate::helpers::TestResult;

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Every table column, index, constraint, trigger and function of the public schema, one per line.
async fn schema_of(url: &str) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let lines: Vec<Line> = diesel::sql_query(
        "SELECT line FROM (
            SELECT format('column %s.%s %s(%s) nullable=%s default=%s', table_name, column_name, data_type,
                          character_maximum_length, is_nullable, column_default) AS line
              FROM information_schema.columns WHERE table_schema = 'public'
            UNION ALL SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
            UNION ALL SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
              FROM pg_constraint WHERE connamespace = 'public'::regnamespace
            UNION ALL SELECT format('trigger %s %s', tgrelid::regclass, tgname) FROM pg_trigger WHERE NOT tgisinternal
            UNION ALL SELECT format('function %s', proname) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
         ) AS schema ORDER BY line",
    )
    .load(&mut conn)
    .await?;
    Ok(lines.into_iter().map(|l| l.line).filter(|line| !line.contains("__diesel_schema_migrations")).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_started_together_migrate_once() -> TestResult {
    // Replicas starting at once: one applies everything, the others find nothing to do (and a
    // CREATE INDEX CONCURRENTLY of the first does not deadlock with the others' waiting).
    let database = devkit::empty_database().await?;
    let (first, second, third) = tokio::join!(
        migrate::run_pending(&database.url),
        migrate::run_pending(&database.url),
        migrate::run_pending(&database.url)
    );
    let mut counts = [first?.len(), second?.len(), third?.len()];
    counts.sort_unstable();
    assert_eq!(counts, [0, 0, migrate::status(&database.url).await?.len()]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn up_then_down_to_base_then_up_gives_the_same_schema() -> TestResult {
    let database = devkit::empty_database().await?;
    let applied = migrate::run_pending(&database.url).await?;
    assert_eq!(applied.len(), migrate::status(&database.url).await?.len());
    let first = schema_of(&database.url).await?;
    assert!(first.iter().any(|line| line.starts_with("column users.email")));

    let reverted = migrate::revert(&database.url, Revert::All).await?;
    assert_eq!(reverted.len(), applied.len());
    assert_eq!(schema_of(&database.url).await?, Vec::<String>::new(), "down to base must leave nothing behind");

    migrate::run_pending(&database.url).await?;
    assert_eq!(schema_of(&database.url).await?, first);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn each_migration_reverts_to_exactly_the_schema_before_it() -> TestResult {
    let database = devkit::empty_database().await?;
    let count = migrate::status(&database.url).await?.len();
    // The schema after 0, 1, … count migrations, then step down one at a time and compare.
    let mut before = vec![schema_of(&database.url).await?];
    for step in 1..=count {
        migrate::run_pending(&database.url).await?;
        migrate::revert(&database.url, Revert::Last(count - step)).await?;
        before.push(schema_of(&database.url).await?);
    }
    for step in (0..count).rev() {
        migrate::revert(&database.url, Revert::Last(1)).await?;
        assert_eq!(schema_of(&database.url).await?, before[step], "after reverting migration {}", step + 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tables_keep_the_design_documents_columns_and_indexes() -> TestResult {
    let database = devkit::test_database().await?;
    let schema = schema_of(&database.url).await?;
    let expected = [
        "column users.id integer() nullable=NO default=",
        "column users.email character varying(255) nullable=NO default=",
        "column users.hashed_password character varying(255) nullable=NO default=",
        "column users.name character varying(255) nullable=NO default=",
        "column users.role character varying(50) nullable=NO default='user'::character varying",
        "column users.is_active boolean() nullable=YES default=true",
        "column users.is_verified boolean() nullable=YES default=false",
        "column users.created_at timestamp with time zone() nullable=YES default=now()",
        "column users.updated_at timestamp with time zone() nullable=YES default=now()",
        "column refresh_tokens.token character varying(255) nullable=NO default=",
        "column refresh_tokens.expires_at timestamp with time zone() nullable=NO default=",
        "index CREATE UNIQUE INDEX idx_users_email ON public.users USING btree (email)",
        "index CREATE INDEX idx_users_role ON public.users USING btree (role)",
        "index CREATE UNIQUE INDEX idx_refresh_tokens_token ON public.refresh_tokens USING btree (token)",
        "index CREATE INDEX idx_refresh_tokens_user_id ON public.refresh_tokens USING btree (user_id)",
        "column resources.title character varying(255) nullable=NO default=",
        "column resources.content text() nullable=YES default=",
        "column resources.deleted_at timestamp with time zone() nullable=YES default=",
        "index CREATE INDEX idx_resources_user_id_live ON public.resources USING btree (user_id, id DESC) WHERE (deleted_at IS NULL)",
        "trigger resources resources_set_updated_at",
        "trigger users users_set_updated_at",
        "trigger sessions sessions_set_updated_at",
    ];
    for line in expected {
        assert!(schema.iter().any(|have| have == line), "missing: {line}\nschema:\n{}", schema.join("\n"));
    }
    let email_indexes =
        schema.iter().filter(|l| l.starts_with("index") && l.contains("users") && l.contains("(email)")).count();
    assert_eq!(email_indexes, 1, "one index serves both uniqueness and lookup");
    assert!(schema.iter().any(|l| l.contains("users_role_valid") && l.contains("admin") && l.contains("guest")));
    for foreign_key in ["refresh_tokens_user_id_fkey", "sessions_user_id_fkey", "resources_user_id_fkey"] {
        assert!(schema.iter().any(|l| l.contains(foreign_key) && l.contains("ON DELETE CASCADE")), "{foreign_key}");
    }
    Ok(())
}

/// Runs the real binary with `DATABASE_URL` set; returns its stdout, failing on a non-zero exit.
/// One worker thread, as the migrate Job's CPU limit (500m) gives it: the single-threaded
/// scheduler.
async fn run_binary(database_url: &str, args: &[&str]) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("TOKIO_WORKER_THREADS", "1")
        .env("RUST_LOG", "warn")
        .env_remove("AUTH_JWT_SECRET")
        .output()
        .await?;
    let stdout = String::from_utf8(output.stdout)?;
    if !output.status.success() {
        return Err(format!("{args:?} failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_migrate_command_goes_up_down_redo_and_reports_status() -> TestResult {
    let url = devkit::empty_database().await?.url;
    let status = run_binary(&url, &["migrate", "status"]).await?;
    let total = status.lines().filter(|l| l.starts_with("pending")).count();
    assert_eq!(total, std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))?.count(), "{status}");
    let up = run_binary(&url, &["migrate", "up"]).await?;
    assert_eq!(up.lines().filter(|l| l.starts_with("applied")).count(), total, "{up}");
    assert!(run_binary(&url, &["migrate", "up"]).await?.contains("up to date"));
    let down = run_binary(&url, &["migrate", "down"]).await?;
    assert_eq!(down.lines().count(), 1, "{down}");
    let status = run_binary(&url, &["migrate", "status"]).await?;
    assert_eq!(status.lines().filter(|l| l.starts_with("applied")).count(), total - 1, "{status}");
    assert!(status.lines().last().is_some_and(|l| l.starts_with("pending")), "{status}");
    run_binary(&url, &["migrate", "up"]).await?;
    assert!(run_binary(&url, &["migrate", "redo"]).await?.contains("redone"));
    let status = run_binary(&url, &["migrate", "status"]).await?;
    assert_eq!(status.lines().filter(|l| l.starts_with("applied")).count(), total, "{status}");
    let all = run_binary(&url, &["migrate", "down", "--all"]).await?;
    assert_eq!(all.lines().filter(|l| l.starts_with("reverted")).count(), total, "{all}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn create_admin_is_idempotent_and_promotes_an_existing_user() -> TestResult {
    let url = devkit::test_database().await?.url;
    let args = ["create-admin", "--email", "Boss@Example.com", "--password", "an admin passphrase"];
    let first = run_binary(&url, &args).await?;
    assert!(first.contains("boss@example.com") && first.contains("created"), "{first}");
    let second = run_binary(&url, &args).await?;
    assert!(second.contains("already existed"), "{second}");
    let mut conn = AsyncPgConnection::establish(&url).await?;
    let admins: i64 = {
        use diesel::{ExpressionMethods, QueryDsl};
        use shared::schema::users;
        users::table.filter(users::role.eq("admin")).count().get_result(&mut conn).await?
    };
    assert_eq!(admins, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_to_start_without_a_signing_key() -> TestResult {
    let url = devkit::test_database().await?.url;
    let error = run_binary(&url, &["--listen-addr", "127.0.0.1:0"]).await.expect_err("must refuse");
    assert!(error.to_string().contains("signing key is required"), "{error}");
    Ok(())
}
