//! A service binary run as a real process for a scenario: flags, a log file, SIGTERM, SIGKILL,
//! its `/metrics` — what Kubernetes does to a pod, done to the binary the pod runs.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One running service process.
pub struct ServiceProcess {
    /// A name for messages (its `--id`).
    pub id: String,
    /// Its admin listener, once read from its log (see [`ServiceProcess::admin`]).
    admin: OnceLock<SocketAddr>,
    child: Option<Child>,
    log: PathBuf,
    /// Length of the log file when this process started: earlier lines are a predecessor's.
    log_from: u64,
}

/// What the runtime logs once its admin listener is bound (`runtime::admin`), followed by
/// `addr=<ip:port>`.
const ADMIN_LISTENING: &str = "admin HTTP listening";

impl ServiceProcess {
    /// Starts `bin` with `flags` (flag → value; `--admin-addr 127.0.0.1:0` is added: the
    /// process binds a port the kernel picks, and the test learns it from the log, so that no
    /// other process can take the port between a test choosing it and the service binding it), its
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
        let mut flags = flags.clone();
        flags.insert("--admin-addr".into(), "127.0.0.1:0".into());
        // The admin address is read from the service's "admin HTTP listening" line, an info
        // line: a quieter `--log` (a load test's `warn`) still lets that one through.
        if let Some(filter) = flags.get_mut("--log") {
            filter.push_str(",bilipulse_runtime::admin=info");
        }
        let log = log_dir.join(format!("{id}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let log_from = out.metadata().map(|m| m.len()).unwrap_or(0);
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
            admin: OnceLock::new(),
            child: Some(child),
            log,
            log_from,
        }
    }

    /// Its admin listener's address, as it logged it once bound; `Err` until then (callers
    /// poll, as they poll `/readyz`).
    pub fn admin(&self) -> Result<SocketAddr, String> {
        if let Some(a) = self.admin.get() {
            return Ok(*a);
        }
        let addr = self.logged_addr(ADMIN_LISTENING, "addr")?;
        Ok(*self.admin.get_or_init(|| addr))
    }

    /// The address in the `field=<ip:port>` of the first line of this process's log that
    /// contains `message`: how a listener bound on port 0 is found (the gateway logs
    /// `gateway starting listen=…`); `Err` until that line is written.
    pub fn logged_addr(&self, message: &str, field: &str) -> Result<SocketAddr, String> {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let own = log.get(self.log_from as usize..).unwrap_or_default();
        String::from_utf8_lossy(own)
            .lines()
            .find(|l| l.contains(message))
            .and_then(|l| addr_field_in(l, field))
            .ok_or_else(|| format!("{} has not logged \"{message}\" yet", self.id))
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
        let body = http_get(self.admin()?, "/metrics").await?;
        Ok(Metrics::parse(&body))
    }

    /// True when `/readyz` answers 200.
    pub async fn is_ready(&self) -> bool {
        match self.admin() {
            Ok(addr) => http_get(addr, "/readyz").await.is_ok(),
            Err(_) => false,
        }
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

/// The binary `name` of the build a bench executable belongs to: `target/<profile>/<name>`,
/// next to `target/<profile>/deps/<bench>`. A message says how to build it when it is missing.
pub fn sibling_binary(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this executable: {e}"))?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .ok_or("cannot locate target/<profile>")?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build it first with `cargo build --release -p {name}`",
            bin.display()
        ))
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

/// The `<field>=` socket address of a log line (ANSI colour codes, if any, removed first).
fn addr_field_in(line: &str, field: &str) -> Option<SocketAddr> {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC '[' parameters… final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let key = format!("{field}=");
    let rest = &plain[plain.find(&key)? + key.len()..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    rest[..end].parse().ok()
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

#[cfg(test)]
mod tests {
    use super::addr_field_in;

    #[test]
    fn the_admin_address_is_read_from_plain_and_coloured_log_lines() {
        let plain = "2026-12-03T12:01:48Z  INFO bilipulse_runtime::admin: admin HTTP listening addr=127.0.0.1:45371";
        let coloured = "\x1b[2m2026\x1b[0m \x1b[32m INFO\x1b[0m admin HTTP listening \x1b[3maddr\x1b[0m\x1b[2m=\x1b[0m127.0.0.1:45371";
        for line in [plain, coloured] {
            assert_eq!(
                addr_field_in(line, "addr"),
                Some("127.0.0.1:45371".parse().unwrap()),
                "{line:?}"
            );
        }
        assert_eq!(addr_field_in("admin HTTP listening", "addr"), None);
        let gateway = "INFO bilipulse_gateway: gateway starting listen=127.0.0.1:40703";
        assert_eq!(
            addr_field_in(gateway, "listen"),
            Some("127.0.0.1:40703".parse().unwrap())
        );
        assert_eq!(addr_field_in(gateway, "addr"), None);
    }
}
