//! Busy ports found before anything starts, reported by number with what holds them: a second
//! `up` while the first still runs (or its orphans do) says so instead of failing half-way.

use std::fmt;
use std::net::{Ipv4Addr, TcpListener};

/// A port the stack needs that something else holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyPort {
    /// The port.
    pub port: u16,
    /// Which of the stack's processes wanted it.
    pub wanted_by: String,
    /// What holds it, when this user may see it.
    pub holder: Option<Holder>,
}

/// The process listening on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: i32,
    /// Its command name (`/proc/<pid>/comm`).
    pub command: String,
}

impl fmt::Display for BusyPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {} (for {}) is in use", self.port, self.wanted_by)?;
        match &self.holder {
            Some(h) => write!(f, " by pid {} ({})", h.pid, h.command),
            None => write!(f, " by a process this user cannot see"),
        }
    }
}

/// The ports of `wanted` (owner, port) that cannot be bound on 127.0.0.1.
pub fn busy(wanted: &[(String, u16)]) -> Vec<BusyPort> {
    wanted
        .iter()
        .filter(|(_, port)| TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_err())
        .map(|(owner, port)| BusyPort {
            port: *port,
            wanted_by: owner.clone(),
            holder: holder(*port),
        })
        .collect()
}

/// The process with a listening TCP socket on `port`: the socket's inode from
/// `/proc/net/tcp{,6}`, then the process holding that inode among its file descriptors.
pub fn holder(port: u16) -> Option<Holder> {
    let entries = procfs::net::tcp()
        .into_iter()
        .chain(procfs::net::tcp6())
        .flatten();
    let inode = entries
        .filter(|e| e.state == procfs::net::TcpState::Listen && e.local_address.port() == port)
        .map(|e| e.inode)
        .next()?;
    procfs::process::all_processes()
        .ok()?
        .flatten()
        .find(|p| {
            p.fd().is_ok_and(|mut fds| {
                fds.any(|fd| {
                    fd.is_ok_and(|fd| matches!(fd.target, procfs::process::FDTarget::Socket(i) if i == inode))
                })
            })
        })
        .map(|p| Holder {
            pid: p.pid,
            command: p.stat().map(|s| s.comm).unwrap_or_else(|_| "?".into()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_port_is_reported_with_this_process_as_holder() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = busy(&[("gateway".into(), port)]);
        assert_eq!(found.len(), 1);
        let holder = found[0].holder.as_ref().expect("our own socket is visible");
        assert_eq!(holder.pid, std::process::id() as i32);
        assert!(
            found[0]
                .to_string()
                .starts_with(&format!("port {port} (for gateway) is in use by pid"))
        );
        drop(listener);
        assert!(busy(&[("gateway".into(), port)]).is_empty());
    }
}
