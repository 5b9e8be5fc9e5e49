//! Real `nats-server` processes for tests.
//!
//! Every server binds 127.0.0.1 only, stores JetStream data in a temporary directory and is
//! killed (and its directory removed) when the handle drops. Readiness is awaited through the
//! server's own `/healthz` endpoint, never guessed with a sleep.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to become healthy before the harness gives up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The two ports a server listens on.
#[derive(Clone, Copy, Debug)]
struct Ports {
    client: u16,
    monitor: u16,
}

/// One `nats-server -js` process.
pub struct NatsServer {
    bin: PathBuf,
    dir: TempDir,
    /// The ports the server bound, learned from its ports file at the first start (see
    /// [`NatsServer::learn_ports`]); `None` until then. A restart binds the same ones.
    ports: Option<Ports>,
    /// Extra configuration (cluster block), kept so a restart uses the same settings.
    extra_conf: String,
    /// Environment of the server process (variables the configuration refers to).
    env: Vec<(String, String)>,
    name: String,
    child: Option<Child>,
    /// The store is a tmpfs of this many MiB mounted on `<dir>/store` (see
    /// [`NatsServer::start_on_small_disk`]); unmounted on drop.
    small_disk: Option<u32>,
}

impl NatsServer {
    /// Starts a single-node server with JetStream, or returns `None` (test skipped, or a panic
    /// under CI) when no `nats-server` binary is installed.
    pub fn start() -> Option<NatsServer> {
        let bin = crate::require("nats-server", crate::tools::nats_server())?;
        let mut s = Self::unstarted(bin, "test".into(), String::new());
        s.launch();
        Some(s)
    }

    /// Starts a single-node server with JetStream and `extra_conf` appended to its
    /// configuration, with `files` copied beside that configuration (nats-server resolves an
    /// `include` relative to the including file: `include ./auth.conf` then loads the
    /// deployment's own file) and `env` in its environment for the variables the configuration
    /// refers to.
    pub fn start_with_config(
        extra_conf: &str,
        files: &[&Path],
        env: &[(&str, &str)],
    ) -> Option<NatsServer> {
        let mut s = Self::unstarted_single(extra_conf)?;
        for file in files {
            let name = file.file_name().expect("a file name");
            std::fs::copy(file, s.dir.path().join(name))
                .unwrap_or_else(|e| panic!("copying {}: {e}", file.display()));
        }
        s.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        s.launch();
        Some(s)
    }

    /// Starts a single-node server whose JetStream store is a disk of its own, `mib` MiB
    /// large (a tmpfs mounted on the store directory), so that a test can fill it
    /// ([`NatsServer::fill_disk`]) and give the space back ([`NatsServer::free_disk`]). The
    /// server is told it may use far more (`max_file_store`), so a full disk shows as the
    /// operating system's "no space left on device", not as a JetStream limit.
    ///
    /// Mounting needs root (CI runs as root): elsewhere the test is skipped with a message.
    pub fn start_on_small_disk(mib: u32) -> Option<NatsServer> {
        let mut s = Self::unstarted_single("")?;
        let store = s.dir.path().join("store");
        std::fs::create_dir(&store).expect("store dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&store)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        crate::require("a tmpfs mount for the store (root)", mounted.then_some(()))?;
        s.small_disk = Some(mib);
        s.launch();
        Some(s)
    }

    /// Fills the small disk ([`NatsServer::start_on_small_disk`]) to the last byte with a
    /// ballast file, as another tenant of the volume or a runaway log would; returns the
    /// ballast's size in bytes.
    pub fn fill_disk(&self) -> u64 {
        assert!(self.small_disk.is_some(), "not started on a small disk");
        let mut f = std::fs::File::create(self.ballast()).expect("ballast file");
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("writing the ballast: {e}"),
            }
        }
        // Bytes still in the page cache count against a tmpfs already; nothing to sync.
        written
    }

    /// Removes the ballast [`NatsServer::fill_disk`] wrote: the space is back.
    pub fn free_disk(&self) {
        std::fs::remove_file(self.ballast()).expect("removing the ballast");
    }

    fn ballast(&self) -> PathBuf {
        // Beside JetStream's own directory, on the same mount.
        self.dir.path().join("store/ballast")
    }

    /// A single-node server (`extra_conf` appended to its configuration) on free ports, not
    /// started yet; `None` when no `nats-server` is installed (see [`crate::require`]).
    fn unstarted_single(extra_conf: &str) -> Option<NatsServer> {
        let bin = crate::require("nats-server", crate::tools::nats_server())?;
        Some(Self::unstarted(bin, "test".into(), extra_conf.into()))
    }

    /// A server with its own directory, not started yet.
    fn unstarted(bin: PathBuf, name: String, extra_conf: String) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("bilipulse-nats-")
            .tempdir()
            .expect("temp dir");
        NatsServer {
            bin,
            dir,
            ports: None,
            extra_conf,
            env: Vec::new(),
            name,
            child: None,
            small_disk: None,
        }
    }

    fn launch(&mut self) {
        self.launch_no_wait();
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("nats-server exited early ({status}); log:\n{}", self.log());
            }
            if let Some(ports) = self.learn_ports()
                && http_ok(ports.monitor, "/healthz")
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "nats-server not healthy after {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The ports, once known: a first start lets the server bind any free port itself (a
    /// port probed free here could be taken by another socket before the server binds it:
    /// that race once failed a CI run), and its ports file then says which ports it got. A
    /// restart reuses them.
    fn learn_ports(&mut self) -> Option<Ports> {
        if self.ports.is_some() {
            return self.ports;
        }
        let pid = self.pid()?;
        let suffix = format!("_{pid}.ports");
        let text = std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(&suffix))
            .and_then(|e| std::fs::read_to_string(e.path()).ok())?;
        // `{"nats": ["nats://127.0.0.1:P"], "monitoring": ["http://127.0.0.1:M"]}`, written
        // while the server starts: a partial file is read again on the next poll.
        let ports = serde_json::from_str::<serde_json::Value>(&text).ok()?;
        let port_of = |key: &str| {
            ports[key][0]
                .as_str()
                .and_then(|u| u.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok())
        };
        self.ports = Some(Ports {
            client: port_of("nats")?,
            monitor: port_of("monitoring")?,
        });
        self.ports
    }

    /// `nats://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port())
    }

    /// The process id (for CPU and memory figures), if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The client port. Every public constructor returns a server that has been healthy, so
    /// its ports are known.
    pub fn port(&self) -> u16 {
        self.ports
            .expect("ports are learned before a server is handed out")
            .client
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }

    /// The directory holding the config, log and JetStream store.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Kills the process (SIGKILL) and waits for it; the store survives for [`Self::restart`].
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again on the same ports with the same store, and waits until healthy.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        if self.small_disk.is_some() {
            // Unmounted before the temporary directory is removed, or the removal fails.
            let _ = Command::new("umount")
                .arg(self.dir.path().join("store"))
                .status();
        }
    }
}

/// A 3-node (or n-node) JetStream cluster on loopback, connected by routes.
pub struct NatsCluster {
    /// The nodes, in start order.
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts an `n`-node cluster and waits until every node is healthy (JetStream meta leader
    /// elected), or returns `None` when no `nats-server` binary is installed.
    pub fn start(n: usize) -> Option<NatsCluster> {
        let bin = crate::require("nats-server", crate::tools::nats_server())?;
        let routes: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let route_list = routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(", ");
        // Spawn all processes before waiting on any: a node is healthy only once a JetStream
        // quorum exists.
        let mut nodes: Vec<NatsServer> = Vec::with_capacity(n);
        for (i, route) in routes.iter().enumerate() {
            let extra = format!(
                "cluster {{ name: bilipulse-test, listen: 127.0.0.1:{route}, routes: [{route_list}] }}"
            );
            let mut s = NatsServer::unstarted(bin.clone(), format!("n{}", i + 1), extra);
            s.launch_no_wait();
            nodes.push(s);
        }
        for node in &mut nodes {
            node.wait_healthy();
        }
        Some(NatsCluster { nodes })
    }

    /// Comma-separated client URLs of all nodes, for clients that should fail over.
    pub fn urls(&self) -> String {
        client_urls(&self.nodes)
    }
}

/// The client URLs of `nodes`, comma separated: what a client that fails over is given.
pub fn client_urls<'a>(nodes: impl IntoIterator<Item = &'a NatsServer>) -> String {
    nodes
        .into_iter()
        .map(NatsServer::url)
        .collect::<Vec<_>>()
        .join(",")
}

impl NatsServer {
    fn launch_no_wait(&mut self) {
        // Cluster nodes are all spawned before any is awaited: none is healthy without quorum.
        let store = self.dir.path().join("store");
        let conf = format!(
            "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{mon}\n\
             jetstream {{ store_dir: {store:?}{limit} }}\n{extra}\n",
            name = self.name,
            port = port_conf(self.ports.map(|p| p.client)),
            mon = port_conf(self.ports.map(|p| p.monitor)),
            store = store.display().to_string(),
            // A small disk is filled by the operating system's measure, not JetStream's.
            limit = if self.small_disk.is_some() {
                ", max_file_store: 1G"
            } else {
                ""
            },
            extra = self.extra_conf,
        );
        let conf_path = self.dir.path().join("nats.conf");
        std::fs::write(&conf_path, conf).expect("write nats.conf");
        // Append, so a restart keeps the log of the run before it for failure messages.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats.log"))
            .expect("log file");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&conf_path)
            // Where the server says which ports it chose (see `learn_ports`).
            .arg("--ports_file_dir")
            .arg(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
    }
}

/// A port as the configuration writes it: none chosen yet (`-1`) asks the server for any
/// free one.
fn port_conf(port: Option<u16>) -> String {
    port.map_or_else(|| "-1".into(), |p| p.to_string())
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A minimal HTTP/1.0 GET against the monitoring port; true on status 200.
fn http_ok(port: u16, path: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200")
}
