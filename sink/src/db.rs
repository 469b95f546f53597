//! Opening the embedded SQLite database: one file holds metadata and events, in WAL mode so
//! readers never block the writer.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (creating if needed) the database at `path` and applies migrations.
pub async fn open_sqlite(path: &Path) -> Result<SqlitePool, String> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .map_err(|error| format!("bad SQLite path {}: {error}", path.display()))?
        .create_if_missing(true)
        // 16 KiB pages (for new files): 2–3 KB span rows fill fewer pages and split less often
        // (docs/performance.md, "Embedded store (SQLite)"; `cargo bench -p spanbridge-sink`).
        .page_size(16_384)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL + NORMAL is durable against process crashes; a power loss may lose the last
        // transactions, which is SQLite's documented trade-off for WAL mode.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|error| format!("cannot open SQLite database {}: {error}", path.display()))?;
    MIGRATIONS
        .run(&pool)
        .await
        .map_err(|error| format!("cannot migrate SQLite database {}: {error}", path.display()))?;
    Ok(pool)
}
