//! A unique JetStream stream name and subject prefix per test, and private nats-servers for tests
//! that stop, kill or rewind one, or a node of a cluster.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shared NATS server.
pub fn nats_url() -> String {
    std::env::var("CRM_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A stream name and subject prefix no other test uses; the streams named after it are deleted on
/// drop.
pub struct TestStream {
    pub url: String,
    /// e.g. `CRM_T1A2B...`
    pub stream: String,
    /// e.g. `t1a2b...`, so subjects are `t1a2b....events.contact.<id>`
    pub subject_prefix: String,
}

impl TestStream {
    pub fn new() -> TestStream {
        TestStream::on(&nats_url())
    }

    pub fn on(url: &str) -> TestStream {
        let prefix = crate::unique_name("t");
        TestStream {
            url: url.to_owned(),
            stream: format!("CRM_{}", prefix.to_uppercase()),
            subject_prefix: prefix,
        }
    }

    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(&self.url)
            .await
            .unwrap_or_else(|error| panic!("NATS at {} answers: {error}", self.url))
    }
}

impl Default for TestStream {
    fn default() -> Self {
        TestStream::new()
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let url = self.url.clone();
        let prefix = self.stream.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client =
                    tokio::time::timeout(Duration::from_secs(2), async_nats::connect(&url))
                        .await
                        .ok()?
                        .ok()?;
                let jetstream = async_nats::jetstream::new(client);
                // The event stream and the streams named after it (checkpoints, ...).
                for suffix in ["", "_CHECKPOINTS"] {
                    let _ = jetstream.delete_stream(format!("{prefix}{suffix}")).await;
                }
                delete_leftovers(&jetstream).await;
                Some(())
            })
        });
        let _ = cleanup.join();
    }
}

/// Deletes the streams of tests that were killed before their drop ran: made long ago, as
/// their name says. Best effort.
async fn delete_leftovers(jetstream: &async_nats::jetstream::Context) {
    use futures::StreamExt;
    let names: Vec<String> = jetstream
        .stream_names()
        .filter_map(|name| async move { name.ok() })
        .collect()
        .await;
    for name in names {
        let Some(token) = name.strip_prefix(STREAM_PREFIX) else {
            continue;
        };
        let token = token.strip_suffix("_CHECKPOINTS").unwrap_or(token);
        if crate::is_leftover(token) {
            let _ = jetstream.delete_stream(&name).await;
        }
    }
}

/// How every test stream's name starts: `CRM_` and the subject prefix in capitals (whose first
/// letter is `T`).
const STREAM_PREFIX: &str = "CRM_T";

/// A nats-server of the test's own, with JetStream and its own store folder, on a free port.
pub struct PrivateNats {
    pub port: u16,
    directory: tempfile::TempDir,
    process: Option<Child>,
}

impl PrivateNats {
    pub fn start() -> PrivateNats {
        let mut server = PrivateNats {
            port: crate::free_port(),
            directory: tempfile::tempdir().expect("a temporary folder"),
            process: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The folder JetStream keeps its streams in.
    pub fn store_dir(&self) -> PathBuf {
        self.directory.path().join("jetstream")
    }

    /// Starts the server again on the same port and store, and waits until it accepts connections.
    pub fn restart(&mut self) {
        assert!(
            self.process.is_none(),
            "the private nats-server is not running"
        );
        let child = Command::new(nats_server_binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.process = Some(child);
        wait_for_port(self.port, Duration::from_secs(10));
    }

    /// SIGKILL, like a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Copies the store folder (while the server is stopped), to rewind to later.
    pub fn snapshot(&self, into: &Path) {
        assert!(self.process.is_none(), "snapshot a stopped server");
        copy_dir(&self.store_dir(), into);
    }

    /// Replaces the store folder with a snapshot (while the server is stopped): the server comes
    /// back having lost everything written since, as after a crash before its flush.
    pub fn rewind_to(&self, snapshot: &Path) {
        assert!(self.process.is_none(), "rewind a stopped server");
        let _ = std::fs::remove_dir_all(self.store_dir());
        copy_dir(snapshot, &self.store_dir());
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JetStream cluster of the test's own: nodes `n1`, `n2`, ... on free ports, each with its own
/// store folder, routed to each other.
pub struct PrivateNatsCluster {
    nodes: Vec<ClusterNode>,
    directory: tempfile::TempDir,
}

struct ClusterNode {
    name: String,
    port: u16,
    monitoring_port: u16,
    process: Option<Child>,
}

impl PrivateNatsCluster {
    /// Starts `size` nodes and waits until each reports JetStream healthy (the cluster has
    /// formed and elected its meta leader).
    pub fn start(size: usize) -> PrivateNatsCluster {
        let directory = tempfile::tempdir().expect("a temporary folder");
        let route_ports: Vec<u16> = (0..size).map(|_| crate::free_port()).collect();
        let routes = route_ports
            .iter()
            .map(|port| format!("nats-route://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(", ");
        let nodes = route_ports
            .iter()
            .enumerate()
            .map(|(index, route_port)| {
                let node = ClusterNode {
                    name: format!("n{}", index + 1),
                    port: crate::free_port(),
                    monitoring_port: crate::free_port(),
                    process: None,
                };
                let config = format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitoring}\n\
                     jetstream {{ store_dir: \"{store}\" }}\n\
                     cluster {{ name: crm_test, listen: 127.0.0.1:{route_port}, routes: [{routes}] }}\n",
                    name = node.name,
                    port = node.port,
                    monitoring = node.monitoring_port,
                    store = directory.path().join(&node.name).display(),
                );
                std::fs::write(directory.path().join(format!("{}.conf", node.name)), config)
                    .expect("write a node's configuration");
                node
            })
            .collect();
        let mut cluster = PrivateNatsCluster { nodes, directory };
        for index in 0..size {
            cluster.spawn(index);
        }
        for node in &cluster.nodes {
            wait_until_healthy(node.monitoring_port, Duration::from_secs(30));
        }
        cluster
    }

    /// Every node's client URL, comma-separated, as `CRM_NATS_URL` takes a cluster.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("nats://127.0.0.1:{}", node.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// SIGKILL to the node named `name` (`n1`, ...), like a crash.
    pub fn kill(&mut self, name: &str) {
        let node = self.node(name);
        if let Some(mut child) = self.nodes[node].process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node named `name` again on its ports and store.
    pub fn restart(&mut self, name: &str) {
        let node = self.node(name);
        assert!(self.nodes[node].process.is_none(), "{name} is not running");
        self.spawn(node);
    }

    fn node(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|node| node.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    fn spawn(&mut self, index: usize) {
        let config = self
            .directory
            .path()
            .join(format!("{}.conf", self.nodes[index].name));
        let child = Command::new(nats_server_binary())
            .arg("-c")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.nodes[index].process = Some(child);
        wait_for_port(self.nodes[index].port, Duration::from_secs(10));
    }
}

impl Drop for PrivateNatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.process.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Waits until the monitoring endpoint's `/healthz` answers 200: JetStream is up and, in a
/// cluster, has a meta leader.
fn wait_until_healthy(monitoring_port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    let healthy = || -> std::io::Result<bool> {
        let mut connection = std::net::TcpStream::connect(("127.0.0.1", monitoring_port))?;
        connection.set_read_timeout(Some(Duration::from_secs(2)))?;
        connection.write_all(b"GET /healthz HTTP/1.0\r\n\r\n")?;
        let mut answer = String::new();
        connection.read_to_string(&mut answer)?;
        Ok(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"))
    };
    while !healthy().unwrap_or(false) {
        assert!(
            Instant::now() < deadline,
            "the node monitored on {monitoring_port} is healthy within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn nats_server_binary() -> PathBuf {
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|path| path.exists())
    .unwrap_or_else(|| PathBuf::from("nats-server"))
}

fn wait_for_port(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's folder");
    for entry in std::fs::read_dir(from).expect("read the folder to copy") {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("its type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}
