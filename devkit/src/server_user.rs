//! The operating-system user PostgreSQL runs as.
//!
//! PostgreSQL refuses to run as root; a root process runs it as the `postgres` user instead, and
//! hands that user the directories the server writes to.

use std::fs;
use std::os::unix::fs::{MetadataExt as _, chown};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::sys;

/// The user the server runs as when this process is root.
const SERVER_USER: &str = "postgres";

/// Whom to run PostgreSQL as.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerUser {
    /// `(uid, gid)` to switch to, or `None` to stay the current user.
    switch_to: Option<(u32, u32)>,
}

impl ServerUser {
    /// The current user, or the `postgres` user when running as root.
    pub(crate) fn detect() -> anyhow::Result<Self> {
        if sys::effective_uid() != 0 {
            return Ok(Self { switch_to: None });
        }
        let ids = from_passwd_file().or_else(from_id_command).with_context(|| {
            format!(
                "running as root, and PostgreSQL refuses to run as root, but there is no \
                     `{SERVER_USER}` user to run it as: create one or run as a normal user"
            )
        })?;
        Ok(Self { switch_to: Some(ids) })
    }

    /// Makes `command` run as this user.
    pub(crate) fn apply(self, command: &mut Command) {
        if let Some((uid, gid)) = self.switch_to {
            command.gid(gid).uid(uid);
        }
    }

    /// Gives `path` (not recursively) to this user.
    pub(crate) fn hand_over(self, path: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid)) = self.switch_to {
            chown(path, Some(uid), Some(gid))
                .with_context(|| format!("cannot give {} to user {SERVER_USER}", path.display()))?;
        }
        Ok(())
    }

    /// Fails early with a clear message when the server user cannot reach `dir`.
    pub(crate) fn check_can_enter(self, dir: &Path) -> anyhow::Result<()> {
        let Some((uid, gid)) = self.switch_to else {
            return Ok(());
        };
        for ancestor in dir.ancestors() {
            let Ok(meta) = fs::metadata(ancestor) else {
                continue;
            };
            let bits = if meta.uid() == uid {
                meta.mode() >> 6
            } else if meta.gid() == gid {
                meta.mode() >> 3
            } else {
                meta.mode()
            };
            if bits & 0o1 == 0 {
                bail!(
                    "user {SERVER_USER} cannot enter {} (mode {:o}), so PostgreSQL cannot use {}; \
                     choose a data directory elsewhere or loosen the permissions",
                    ancestor.display(),
                    meta.mode() & 0o7777,
                    dir.display()
                );
            }
        }
        Ok(())
    }
}

/// `(uid, gid)` of the server user from `/etc/passwd`.
fn from_passwd_file() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != SERVER_USER {
            return None;
        }
        let _password = fields.next()?;
        Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
    })
}

/// `(uid, gid)` of the server user from `id` (covers users not in `/etc/passwd`, e.g. LDAP).
fn from_id_command() -> Option<(u32, u32)> {
    let ask = |flag: &str| -> Option<u32> {
        let output = Command::new("id").arg(flag).arg(SERVER_USER).output().ok()?;
        if !output.status.success() {
            return None;
        }
        String::from_utf8(output.stdout).ok()?.trim().parse().ok()
    };
    Some((ask("-u")?, ask("-g")?))
}
