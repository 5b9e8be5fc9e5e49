//! A service binary run as a real process for a scenario: flags, a log file, SIGTERM, SIGKILL,
//! its `/metrics` — what Kubernetes does to a pod, done to the binary the pod runs.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One running service process.
pub struct ServiceProcess {
    /// A name for messages (its `--id`).
    pub id: String,
    /// Its admin listener (`--admin-addr`).
    pub admin: SocketAddr,
    child: Option<Child>,
    log: PathBuf,
}

impl ServiceProcess {
    /// Starts `bin` with `flags` (flag → value; `--admin-addr` is added on a free port), its
    /// output appended to `<log_dir>/<id>.log`, with an empty environment but `RUST_BACKTRACE`.
    pub fn spawn(
        bin: &Path,
        id: &str,
        log_dir: &Path,
        flags: &BTreeMap<String, String>,
    ) -> ServiceProcess {
        ServiceProcess::spawn_with_env(bin, id, log_dir, flags, &[])
    }

    /// [`ServiceProcess::spawn`] with `env` (name, value) set in the otherwise empty
    /// environment: for what a service only reads from the environment, such as the standard
    /// `OTEL_*` variables. The environment stays cleared so the test runner's own variables
    /// (a developer's `OTEL_EXPORTER_OTLP_ENDPOINT`, `BILIPULSE_*`) never leak into a scenario.
    pub fn spawn_with_env(
        bin: &Path,
        id: &str,
        log_dir: &Path,
        flags: &BTreeMap<String, String>,
        env: &[(&str, &str)],
    ) -> ServiceProcess {
        let admin = SocketAddr::from(([127, 0, 0, 1], crate::nats::free_port()));
        let mut flags = flags.clone();
        flags.insert("--admin-addr".into(), admin.to_string());
        let log = log_dir.join(format!("{id}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(bin)
            .args(flags.iter().flat_map(|(k, v)| [k.clone(), v.clone()]))
            .env_clear()
            .env("RUST_BACKTRACE", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", bin.display()));
        ServiceProcess {
            id: id.to_owned(),
            admin,
            child: Some(child),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("process running")
    }

    /// True until it exited (or was killed here).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Sends SIGTERM, as Kubernetes does on scale-down.
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -TERM {} failed", self.pid());
    }

    /// Sends SIGKILL (no clean-up at all) and reaps the process.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit, at most `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("process running");
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "{} did not exit within {within:?}; log:\n{}",
                    self.id,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Its whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its `/metrics`.
    pub async fn metrics(&self) -> Result<Metrics, String> {
        let body = http_get(self.admin, "/metrics").await?;
        Ok(Metrics::parse(&body))
    }

    /// True when `/readyz` answers 200.
    pub async fn is_ready(&self) -> bool {
        http_get(self.admin, "/readyz").await.is_ok()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill9();
        // A failed scenario shows what each process was doing.
        if std::thread::panicking() {
            eprintln!(
                "--- log of {} (last lines) ---\n{}",
                self.id,
                self.log_tail()
            );
        }
    }
}

/// Parsed OpenMetrics text: series (name plus labels, as printed) → value.
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub HashMap<String, f64>);

impl Metrics {
    /// Parses the text exposition format.
    pub fn parse(text: &str) -> Metrics {
        let mut m = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some((series, value)) = line.rsplit_once(' ')
                && let Ok(v) = value.parse::<f64>()
            {
                m.insert(series.to_owned(), v);
            }
        }
        Metrics(m)
    }

    /// The sum over every label set of the metric `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| {
                series.as_str() == name
                    || series
                        .strip_prefix(name)
                        .is_some_and(|r| r.starts_with('{'))
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// The value of `series` (0 when absent, as Prometheus treats a missing counter).
    pub fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }
}

/// A minimal HTTP/1.0 GET on 127.0.0.1, returning the body of a 200.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .map_err(|_| format!("GET {path} on {addr} timed out"))?
        .map_err(|e| format!("GET {path} on {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("GET {path}: {}", head.lines().next().unwrap_or("")));
    }
    Ok(body.to_owned())
}
