//! What a token check reads — a session and its user — held in memory, so that a check usually
//! costs no query.
//!
//! Coherence across replicas comes from PostgreSQL: triggers announce every change to a user or
//! to what a check reads of a session on channel `auth_changes` (see `change_listener`), and each
//! replica forgets that user. The memory is trusted only while the listener is connected; when it
//! is not, every check queries the database, as without a cache. Writes made by this replica
//! forget their user at once too, so a revocation is refused by the next call to the same replica
//! without waiting for the notification.
//!
//! Two maps: sessions (session id → session row, user row, and the user's *generation* when it
//! was read), and generations (user id → a number). Forgetting a user drops its generation, which
//! invalidates every session of that user in one step. A load that raced with a change (the
//! change's notification arrived while the row was being read) is never kept: each load carries
//! the change counter it started with and is dropped if the counter moved.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use shared::models::{Session, User};

/// Longest an entry is kept even without a change, a bound on staleness should a notification
/// ever be lost without the listener noticing.
const MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// A session as read with its user.
#[derive(Debug)]
struct Entry {
    /// The session row.
    session: Session,
    /// Its user's row.
    user: User,
    /// The user's generation when both were read.
    generation: u64,
}

/// Sessions and users in memory, kept coherent with the database.
#[derive(Debug)]
pub struct LiveSessions {
    /// Session id → what a check needs.
    sessions: Cache<i32, Arc<Entry>>,
    /// User id → generation; a session entry counts only while its generation is current.
    generations: Cache<i32, u64>,
    /// Source of generations.
    next_generation: AtomicU64,
    /// Counts changes heard (and losses of the listener), to drop loads that raced with one.
    changes: AtomicU64,
    /// Whether changes are being heard, so that the memory may be used.
    trusted: AtomicBool,
    /// Whether the memory is used at all (a capacity of 0 turns it off).
    enabled: bool,
}

/// Where a load started, for [`LiveSessions::remember`].
#[derive(Debug, Clone, Copy)]
#[must_use = "a ticket is handed to `remember`"]
pub struct LoadTicket {
    /// The change counter before the load.
    changes: u64,
}

impl LiveSessions {
    /// Room for `capacity` sessions (and as many users); 0 turns the memory off.
    pub fn new(capacity: u64) -> Self {
        Self {
            sessions: Cache::builder().max_capacity(capacity).time_to_live(MAX_AGE).build(),
            generations: Cache::builder().max_capacity(capacity).time_to_live(MAX_AGE).build(),
            next_generation: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            trusted: AtomicBool::new(false),
            enabled: capacity > 0,
        }
    }

    /// The session `session_id` of user `user_id` with its user, if held and current.
    pub fn get(&self, session_id: i32, user_id: i32) -> Option<(Session, User)> {
        if !self.trusted.load(Ordering::SeqCst) {
            return None;
        }
        let entry = self.sessions.get(&session_id)?;
        let current = self.generations.get(&user_id)?;
        (entry.session.user_id == user_id && entry.generation == current)
            .then(|| (entry.session.clone(), entry.user.clone()))
    }

    /// Call before reading a session from the database; hand the ticket to [`Self::remember`].
    pub fn ticket(&self) -> LoadTicket {
        LoadTicket { changes: self.changes.load(Ordering::SeqCst) }
    }

    /// Keeps what was read, unless a change was heard since `ticket` (the rows may predate it)
    /// or changes are not being heard.
    pub fn remember(&self, ticket: LoadTicket, session: &Session, user: &User) {
        if !self.unchanged_since(ticket) {
            return;
        }
        let generation = self.generations.get_with(user.id, || self.next_generation.fetch_add(1, Ordering::SeqCst));
        let entry = Entry { session: session.clone(), user: user.clone(), generation };
        self.sessions.insert(session.id, Arc::new(entry));
        // A change heard between the check above and the insert may not have seen the entry.
        if !self.unchanged_since(ticket) {
            self.sessions.invalidate(&session.id);
        }
    }

    /// Forgets everything held for a user: its row and all its sessions.
    pub fn forget_user(&self, user_id: i32) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.generations.invalidate(&user_id);
    }

    /// Starts using the memory: changes are being heard from now on. Forgets everything first,
    /// as changes made while nobody listened are unknown.
    pub fn trust(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.forget_all();
        self.trusted.store(self.enabled, Ordering::SeqCst);
    }

    /// Stops using the memory: changes may go unheard.
    pub fn distrust(&self) {
        self.trusted.store(false, Ordering::SeqCst);
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.forget_all();
    }

    /// Whether the memory is in use (changes are being heard).
    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::SeqCst)
    }

    /// Whether no change was heard since `ticket` and the memory is in use.
    fn unchanged_since(&self, ticket: LoadTicket) -> bool {
        self.trusted.load(Ordering::SeqCst) && self.changes.load(Ordering::SeqCst) == ticket.changes
    }

    /// Drops every entry.
    fn forget_all(&self) {
        self.generations.invalidate_all();
        self.sessions.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};

    use super::*;

    fn user(id: i32, name: &str) -> User {
        User {
            id,
            email: format!("u{id}@example.com"),
            hashed_password: "$argon2id$…".to_owned(),
            name: name.to_owned(),
            role: "user".to_owned(),
            is_active: Some(true),
            is_verified: Some(false),
            created_at: None,
            updated_at: None,
        }
    }

    fn session(id: i32, user_id: i32) -> Session {
        let now = Utc::now();
        Session {
            id,
            user_id,
            user_agent: None,
            ip_address: None,
            created_at: now,
            updated_at: now,
            last_used_at: now,
            expires_at: now + TimeDelta::hours(1),
            revoked_at: None,
        }
    }

    fn trusted() -> LiveSessions {
        let live = LiveSessions::new(100);
        live.trust();
        live
    }

    #[test]
    fn a_remembered_session_is_served_to_its_owner_only() {
        let live = trusted();
        live.remember(live.ticket(), &session(7, 1), &user(1, "Ann"));
        let (found, owner) = live.get(7, 1).expect("held");
        assert_eq!((found.id, owner.name.as_str()), (7, "Ann"));
        assert!(live.get(7, 2).is_none(), "another user's id must not match");
        assert!(live.get(8, 1).is_none());
    }

    #[test]
    fn forgetting_a_user_drops_all_of_its_sessions_and_no_other() {
        let live = trusted();
        live.remember(live.ticket(), &session(1, 1), &user(1, "Ann"));
        live.remember(live.ticket(), &session(2, 1), &user(1, "Ann"));
        live.remember(live.ticket(), &session(3, 2), &user(2, "Bob"));
        live.forget_user(1);
        assert!(live.get(1, 1).is_none());
        assert!(live.get(2, 1).is_none());
        assert!(live.get(3, 2).is_some());
        // Reloading one session of the user does not revive the other.
        live.remember(live.ticket(), &session(1, 1), &user(1, "Ann B."));
        assert_eq!(live.get(1, 1).expect("reloaded").1.name, "Ann B.");
        assert!(live.get(2, 1).is_none(), "a session read before the change must stay forgotten");
    }

    #[test]
    fn a_load_that_raced_with_a_change_is_not_kept() {
        let live = trusted();
        let ticket = live.ticket();
        live.forget_user(9);
        live.remember(ticket, &session(1, 1), &user(1, "Ann"));
        assert!(live.get(1, 1).is_none());
    }

    #[test]
    fn nothing_is_served_or_kept_while_changes_are_not_heard() {
        let live = LiveSessions::new(100);
        live.remember(live.ticket(), &session(1, 1), &user(1, "Ann"));
        assert!(live.get(1, 1).is_none(), "untrusted at first");
        live.trust();
        live.remember(live.ticket(), &session(1, 1), &user(1, "Ann"));
        assert!(live.get(1, 1).is_some());
        live.distrust();
        assert!(live.get(1, 1).is_none());
        live.trust();
        assert!(live.get(1, 1).is_none(), "what was held before the listener was lost is forgotten");
    }

    #[test]
    fn a_capacity_of_zero_turns_the_memory_off() {
        let live = LiveSessions::new(0);
        live.trust();
        assert!(!live.is_trusted());
        live.remember(live.ticket(), &session(1, 1), &user(1, "Ann"));
        assert!(live.get(1, 1).is_none());
    }
}
