//! Spawns server processes from one thread that lives as long as the process.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits. Test threads come and
//! go, so every child is forked by this dedicated thread, which never exits: the children then
//! get their signal exactly when the whole process is gone.

use std::io;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Sender};
use std::thread;

use crate::sys;

/// A command to spawn and where to send the result.
type Request = (Command, Sender<io::Result<Child>>);

/// The channel to the spawner thread, or why it could not be started.
static SPAWNER: OnceLock<Result<Sender<Request>, String>> = OnceLock::new();

/// Spawns `command` so that its process receives `signal` when this process exits, however it
/// exits (on Linux; elsewhere the child may outlive it). The kernel forgets the signal when the
/// child executes a set-user-ID program, so `command` must run the server itself.
pub fn spawn_tied_to_process(mut command: Command, signal: libc::c_int) -> io::Result<Child> {
    sys::signal_when_parent_exits(&mut command, signal);
    let (reply_sender, reply) = mpsc::channel();
    spawner()?.send((command, reply_sender)).map_err(|_| io::Error::other("the devkit spawner thread has stopped"))?;
    reply.recv().map_err(|_| io::Error::other("the devkit spawner thread did not answer"))?
}

/// The channel to the spawner thread, starting the thread on first use.
fn spawner() -> io::Result<&'static Sender<Request>> {
    SPAWNER
        .get_or_init(|| {
            let (sender, requests) = mpsc::channel::<Request>();
            thread::Builder::new()
                .name("devkit-spawner".to_owned())
                .spawn(move || {
                    // The sender lives in a static, so this loop never ends.
                    for (mut command, reply) in requests {
                        // The caller may have given up waiting; nothing to do then.
                        let _ = reply.send(command.spawn());
                    }
                })
                .map(|_| sender)
                .map_err(|error| format!("cannot start the devkit spawner thread: {error}"))
        })
        .as_ref()
        .map_err(|message| io::Error::other(message.clone()))
}
