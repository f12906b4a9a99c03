//! Background WAL checkpoints for the SQLite files.
//!
//! By default SQLite checkpoints inside the commit that pushes the
//! write-ahead log past its threshold: that writer copies megabytes back
//! into the main file and syncs it while every caller queued behind it
//! waits (the reveal path's p99). Here a thread of its own runs a
//! `PASSIVE` checkpoint every [`EVERY`], which never blocks readers or
//! the writer; the writers keep a far larger automatic threshold only as
//! a backstop should this thread fall behind.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// How often the background checkpoint runs.
const EVERY: Duration = Duration::from_millis(250);

/// The writers' own automatic checkpoint threshold, in pages (a backstop).
pub(crate) const BACKSTOP_PAGES: u32 = 20_000;

/// Keeps the checkpoint thread alive; dropping the last clone stops it.
#[derive(Debug, Clone)]
pub(crate) struct Checkpointer {
    _alive: std::sync::Arc<Sender<()>>,
}

/// Starts checkpointing `path` in a thread named `name`.
pub(crate) fn spawn(path: &Path, name: &str) -> std::io::Result<Checkpointer> {
    let (alive, stopped) = std::sync::mpsc::channel::<()>();
    let path = path.to_owned();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || run(&path, &stopped))?;
    Ok(Checkpointer {
        _alive: std::sync::Arc::new(alive),
    })
}

fn run(path: &Path, stopped: &Receiver<()>) {
    let mut conn: Option<rusqlite::Connection> = None;
    loop {
        match stopped.recv_timeout(EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if conn.is_none() {
            conn = rusqlite::Connection::open(path)
                .and_then(|c| c.execute_batch("PRAGMA busy_timeout = 1000;").map(|()| c))
                .map_err(|e| tracing::warn!(error = %e, "checkpointer: cannot open the database"))
                .ok();
        }
        let Some(c) = &conn else { continue };
        // Busy (another checkpoint running) is not an error: next tick.
        if let Err(e) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "checkpointer: checkpoint did not run");
            conn = None;
        }
    }
}
