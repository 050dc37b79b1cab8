//! Hears the database announce changes to users and sessions (`LISTEN auth_changes`, fed by the
//! triggers of migration `notify_auth_changes`) and makes [`LiveSessions`] forget them.
//!
//! One dedicated connection, outside the pool. While it is up the in-memory sessions are
//! trusted; when it drops (or stops answering a ping) they are distrusted at once — every token
//! check then queries the database — and the listener reconnects with a growing pause.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use crate::live_sessions::LiveSessions;

/// The channel the triggers notify; the payload is a user id.
pub const CHANNEL: &str = "auth_changes";
/// How often the connection is checked while nothing is heard.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// How long a ping or a connection attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// First pause before reconnecting; doubled after each failure up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(250);
/// Longest pause before reconnecting.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Listens on [`CHANNEL`] for as long as the returned task runs (abort it to stop).
/// Fails only on a database URL that cannot be parsed.
pub fn spawn(database_url: &str, live: Arc<LiveSessions>) -> anyhow::Result<JoinHandle<()>> {
    let mut config: Config =
        database_url.parse().map_err(|_| anyhow::anyhow!("the database URL is not a valid PostgreSQL URL"))?;
    config.application_name("auth-service change listener").connect_timeout(ATTEMPT_TIMEOUT);
    Ok(tokio::spawn(keep_listening(config, live)))
}

/// Listens, and listens again after every loss, pausing longer after each failed attempt.
async fn keep_listening(config: Config, live: Arc<LiveSessions>) {
    let mut pause = FIRST_RETRY_PAUSE;
    let mut failed_attempts = 0_u32;
    loop {
        let lost = listen(&config, &live).await;
        if live.is_trusted() {
            // This connection had been listening: the loss is news, and retrying starts afresh.
            failed_attempts = 0;
            pause = FIRST_RETRY_PAUSE;
        }
        live.distrust();
        if failed_attempts == 0 {
            tracing::warn!(
                error = %lost,
                "not hearing user and session changes; token checks query the database until the listener is back"
            );
        } else {
            tracing::debug!(error = %lost, "change listener still down");
        }
        failed_attempts += 1;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_RETRY_PAUSE);
    }
}

/// One connection's life: connect, `LISTEN`, trust the memory, forget each announced user, ping
/// while quiet. Returns why it ended.
async fn listen(config: &Config, live: &Arc<LiveSessions>) -> anyhow::Error {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(pair) => pair,
        Err(error) => return error.into(),
    };
    let heard = Arc::clone(live);
    // The connection must be polled for queries to complete; notifications arrive through it.
    let mut driver = AbortOnDrop(tokio::spawn(async move {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(notification))) => match notification.payload().parse() {
                    Ok(user_id) => heard.forget_user(user_id),
                    Err(_) => tracing::warn!(payload = notification.payload(), "unexpected payload on {CHANNEL}"),
                },
                Some(Ok(_notice)) => {}
                Some(Err(error)) => return anyhow::Error::from(error),
                None => return anyhow::anyhow!("the database closed the listening connection"),
            }
        }
    }));
    let listening = tokio::time::timeout(ATTEMPT_TIMEOUT, client.batch_execute(&format!("LISTEN {CHANNEL}"))).await;
    match listening {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return error.into(),
        Err(_) => return anyhow::anyhow!("LISTEN got no answer within {ATTEMPT_TIMEOUT:?}"),
    }
    live.trust();
    tracing::info!(channel = CHANNEL, "hearing user and session changes; token checks are served from memory");
    loop {
        tokio::select! {
            ended = &mut driver.0 => {
                return ended.unwrap_or_else(|panic| anyhow::anyhow!("the listener's driver failed: {panic}"));
            }
            () = tokio::time::sleep(PING_INTERVAL) => {
                match tokio::time::timeout(ATTEMPT_TIMEOUT, client.batch_execute("")).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => return error.into(),
                    Err(_) => {
                        return anyhow::anyhow!("the listening connection did not answer a ping within {ATTEMPT_TIMEOUT:?}");
                    }
                }
            }
        }
    }
}

/// Aborts a task when dropped (the driver of a connection given up on).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
