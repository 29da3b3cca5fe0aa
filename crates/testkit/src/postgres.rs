//! A fresh database per test on the shared server, and private servers for tests that stop one.

use std::path::PathBuf;
use std::process::Command;

use eventstore::StoreSettings;
use tokio_postgres::NoTls;

/// The shared server's URL for administrative statements (creating and dropping databases).
pub fn admin_url() -> String {
    std::env::var("CRM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// How every test database's name starts.
const DATABASE_PREFIX: &str = "crm_test_";

/// A database of its own, with the event store migrated; dropped when this value is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDatabase {
    /// A new empty database with the event store's migrations applied.
    pub async fn new() -> TestDatabase {
        let database = TestDatabase::empty().await;
        eventstore::migrate(&database.store_settings())
            .await
            .expect("migrations apply to a fresh database");
        database
    }

    /// A new database with nothing in it.
    pub async fn empty() -> TestDatabase {
        TestDatabase::empty_on(&admin_url()).await
    }

    /// A new database with nothing in it, on the server `admin_url` points to.
    pub async fn empty_on(admin_url: &str) -> TestDatabase {
        let name = crate::unique_name(DATABASE_PREFIX);
        let (client, connection) = tokio_postgres::connect(admin_url, NoTls)
            .await
            .unwrap_or_else(|error| panic!("PostgreSQL at {admin_url} answers: {error}"));
        tokio::spawn(connection);
        drop_leftovers(&client).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("a test database can be created");
        TestDatabase {
            url: replace_database(admin_url, &name),
            name,
            admin_url: admin_url.to_owned(),
        }
    }

    pub fn store_settings(&self) -> StoreSettings {
        StoreSettings {
            url: self.url.clone(),
            pool_size: 8,
            ..StoreSettings::default()
        }
    }

    /// A connection as the database's owner (superuser on the test server): for tests that need
    /// to do what the application cannot.
    pub async fn owner_client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("the test database accepts its owner");
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin_url, NoTls).await.ok()?;
                tokio::spawn(connection);
                client.batch_execute(&statement).await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// Drops the databases of tests that were killed before their drop ran: made long ago (their
/// name says when) and with nobody connected. Best effort: a test never fails for this.
async fn drop_leftovers(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query(
            "SELECT datname::text FROM pg_database d WHERE datname LIKE 'crm\\_test\\_%' \
             AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<_, String>(0) else {
            continue;
        };
        let token = name.strip_prefix(DATABASE_PREFIX).unwrap_or_default();
        if crate::is_leftover(token) {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
}

/// `url` with its database name replaced.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// A PostgreSQL server of the test's own (initdb + pg_ctl in a temporary folder), for tests that
/// stop or kill the database. Stopped and removed on drop.
pub struct PrivatePostgres {
    pub port: u16,
    directory: tempfile::TempDir,
    bin: PathBuf,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        PrivatePostgres::start_with(&[])
    }

    /// A server with `settings` (name, value) added to its configuration.
    pub fn start_with(settings: &[(&str, &str)]) -> PrivatePostgres {
        let bin = postgres_bin_dir();
        let directory = tempfile::tempdir().expect("a temporary folder");
        if let Some(owner) = server_owner() {
            std::os::unix::fs::chown(
                directory.path(),
                Some(owner.uid.as_raw()),
                Some(owner.gid.as_raw()),
            )
            .expect("the folder can be handed to the postgres user");
        }
        let data = directory.path().join("data");
        let status = as_server_owner(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb succeeds");
        let configuration: String = settings
            .iter()
            .map(|(name, value)| format!("{name} = '{value}'\n"))
            .collect();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("the server's configuration opens");
        std::io::Write::write_all(&mut file, configuration.as_bytes())
            .expect("the settings are written");
        let server = PrivatePostgres {
            port: crate::free_port(),
            directory,
            bin,
        };
        server.pg_ctl_start();
        server
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server immediately (no checkpoint), like a crash.
    pub fn kill(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }

    pub fn restart(&self) {
        self.pg_ctl_start();
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.directory.path().display()
        );
        self.pg_ctl(&["start", "-w", "-o", &options]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let log = self.directory.path().join("server.log");
        let status = as_server_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.directory.path().join("data"))
            .arg("-l")
            .arg(log)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "pg_ctl {args:?} succeeds");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_server_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.directory.path().join("data"))
            .args(["stop", "-m", "immediate"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// PostgreSQL refuses to run as root: when the tests do, the server runs as `postgres`.
fn server_owner() -> Option<nix::unistd::User> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    nix::unistd::User::from_name("postgres").ok().flatten()
}

fn as_server_owner(program: &std::path::Path) -> Command {
    match server_owner() {
        Some(owner) => {
            let mut command = Command::new("runuser");
            command.args(["-u", &owner.name, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// Debian keeps the server binaries in /usr/lib/postgresql/<version>/bin, off the PATH.
fn postgres_bin_dir() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
                .filter(|bin| bin.join("initdb").exists())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    versions
        .into_iter()
        .max()
        .unwrap_or_else(|| PathBuf::from("/usr/bin"))
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replacing_the_database_keeps_host_user_and_query() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
    }
}
