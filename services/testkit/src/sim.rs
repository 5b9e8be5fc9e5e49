//! The simulator binary (`bilipulse-sim`) as a process of its own, for load binaries that read
//! each process's CPU and memory from `/proc` (tests run it in-process instead).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `bilipulse-sim`, killed on drop.
pub struct SimProcess {
    child: Child,
    /// Its listener (HTTP API and WebSocket), as it printed it.
    pub addr: SocketAddr,
}

/// Why the simulator could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No binary at the path.
    #[error("{0} missing: cargo build --release -p bilipulse-sim")]
    Missing(PathBuf),
    /// It could not be spawned, or its output could not be read.
    #[error("bilipulse-sim: {0}")]
    Io(#[from] std::io::Error),
    /// It exited (or closed its output) before printing its base URL.
    #[error("bilipulse-sim printed no base URL")]
    NoUrl,
}

impl SimProcess {
    /// The simulator binary: `BILIPULSE_SIM_BIN`, else `bilipulse-sim` next to `sibling` (a
    /// binary of the same build profile, such as the caller's `CARGO_BIN_EXE_…`).
    pub fn binary(sibling: &Path) -> PathBuf {
        std::env::var_os("BILIPULSE_SIM_BIN")
            .map_or_else(|| sibling.with_file_name("bilipulse-sim"), PathBuf::from)
    }

    /// Starts `bin` on a port of 127.0.0.1 the kernel picks, with `args` added and its log at
    /// `warn`, and waits for the base URL it prints first. The rest of its output is drained
    /// by a thread so the simulator never blocks on a full pipe.
    pub fn start(bin: &Path, args: &[&str]) -> Result<SimProcess, SimError> {
        if !bin.is_file() {
            return Err(SimError::Missing(bin.to_owned()));
        }
        let mut child = Command::new(bin)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--heartbeat-timeout-ms",
                "120000",
            ])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or(SimError::NoUrl)?;
        // From here on the child is ours to kill, whatever fails.
        let mut sim = SimProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let mut lines = BufReader::new(stdout).lines();
        sim.addr = loop {
            let line = lines.next().ok_or(SimError::NoUrl)??;
            if let Some(addr) = base_url_addr(&line) {
                break addr;
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(sim)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `http://127.0.0.1:PORT[/…]` → the address.
fn base_url_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("http://")?;
    let host_port = rest.split('/').next()?;
    host_port.parse().ok()
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::base_url_addr;

    #[test]
    fn the_base_url_line_gives_the_address() {
        assert_eq!(
            base_url_addr("http://127.0.0.1:9400/\n"),
            Some("127.0.0.1:9400".parse().unwrap())
        );
        assert_eq!(
            base_url_addr("http://127.0.0.1:41000"),
            Some("127.0.0.1:41000".parse().unwrap())
        );
        assert_eq!(base_url_addr("listening on 127.0.0.1:9400"), None);
    }
}
