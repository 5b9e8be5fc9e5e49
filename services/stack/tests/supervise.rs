//! The local stack as a user runs it: `bilipulse-stack up` over the real service binaries and a
//! real nats-server; a `kill -9` of one ingester restarts that one alone; `scale` adds and
//! removes one replica; SIGTERM stops everything, ingesters first; a busy port is named with
//! its holder before anything starts.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bilipulse_stack::supervisor::{Phase, Status};
use bilipulse_testkit::tools;
use bilipulse_testkit::wait::converge;

const STACK: &str = env!("CARGO_BIN_EXE_bilipulse-stack");

/// A block of 200 ports in 20000..28000, below the ephemeral range where the other tests'
/// servers bind: the stack's layout takes base..base+120 for admin ports and base+150.. for
/// the rest. A block is this test's while it holds the block's lock file (tests run in
/// parallel, in one process or in several), and taken only if all its ports are free now.
struct PortBlock {
    base: u16,
    _lock: std::fs::File,
}

fn port_block() -> PortBlock {
    let dir = std::env::temp_dir().join("bilipulse-stack-test-ports");
    std::fs::create_dir_all(&dir).expect("lock directory");
    (0..40u32)
        .map(|k| 20_000 + ((std::process::id() + k) % 40) as u16 * 200)
        .find_map(|base| {
            let lock = std::fs::File::create(dir.join(format!("{base}.lock"))).ok()?;
            lock.try_lock().ok()?;
            (base..base + 200)
                .all(|p| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok())
                .then_some(PortBlock { base, _lock: lock })
        })
        .expect("a free block of 200 ports in 20000..28000")
}

/// The flags of `up` for a stack on the ports of `base`, with its binaries from this build.
fn up_args(base: u16, bin_dir: &Path, nats: &Path, data: &Path) -> Vec<String> {
    let flags = [
        ("--bin-dir", bin_dir.display().to_string()),
        ("--nats-server", nats.display().to_string()),
        ("--data-dir", data.display().to_string()),
        ("--admin-base-port", base.to_string()),
        ("--nats-port", (base + 150).to_string()),
        ("--nats-monitor-port", (base + 151).to_string()),
        ("--sim-addr", format!("127.0.0.1:{}", base + 152)),
        ("--gateway-addr", format!("127.0.0.1:{}", base + 153)),
        ("--stop-grace", "20s".into()),
        // Generated rooms have no short id: registered by real id, without resolving.
        ("--rooms", "3".into()),
        ("--log-format", "json".into()),
    ];
    std::iter::once("up".to_owned())
        .chain(flags.into_iter().flat_map(|(k, v)| [k.to_owned(), v]))
        .collect()
}

/// The service binaries of this build and nats-server, or None (skipped) when missing.
fn binaries() -> Option<(PathBuf, PathBuf)> {
    let names = [
        "bilipulse",
        "bilipulse-sim",
        "bilipulse-ingester",
        "bilipulse-windower",
        "bilipulse-gateway",
    ];
    let dir = names
        .iter()
        .map(|n| tools::workspace_bin(n).and_then(|p| p.parent().map(Path::to_path_buf)))
        .collect::<Option<Vec<_>>>()
        .and_then(|dirs| dirs.into_iter().next());
    let dir = bilipulse_testkit::require("the workspace's service binaries", dir)?;
    let nats = bilipulse_testkit::require("nats-server", tools::nats_server())?;
    Some((dir, nats))
}

/// What every scenario opens with: the binaries, a temporary directory (the stack's output goes
/// to `stack.out`, its data directory is `data/`), a port block, and the flags of `up` over
/// them. `None` (skipped) when a binary is missing.
struct Scene {
    bin_dir: PathBuf,
    dir: tempfile::TempDir,
    block: PortBlock,
    up: Vec<String>,
}

impl Scene {
    fn new() -> Option<Scene> {
        let (bin_dir, nats) = binaries()?;
        let dir = tempfile::tempdir().unwrap();
        let block = port_block();
        let up = up_args(block.base, &bin_dir, &nats, &dir.path().join("data"));
        Some(Scene {
            bin_dir,
            dir,
            block,
            up,
        })
    }

    fn base(&self) -> u16 {
        self.block.base
    }

    fn out_path(&self) -> PathBuf {
        self.dir.path().join("stack.out")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

async fn processes(base: u16) -> Result<Vec<Status>, String> {
    let url = format!("http://127.0.0.1:{base}/processes");
    let r = reqwest::get(&url).await.map_err(|e| e.to_string())?;
    r.json().await.map_err(|e| e.to_string())
}

fn pid_of(list: &[Status], name: &str) -> Option<u32> {
    list.iter().find(|s| s.name == name).and_then(|s| s.pid)
}

fn stack_cli(args: &[&str], base: u16) -> std::process::Output {
    Command::new(STACK)
        .args(args)
        .args(["--control-addr", &format!("127.0.0.1:{base}")])
        .output()
        .expect("bilipulse-stack runs")
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
    rustix::process::kill_process(pid, signal).expect("signal sent");
}

/// Waits until the stack writing `out` has printed its banner: every process ready, the rooms
/// registered, summaries flowing.
async fn until_banner(out: &Path) {
    let output = || std::fs::read_to_string(out).unwrap_or_default();
    converge("the stack's banner", Duration::from_secs(120), async || {
        if output().contains("bilipulse is running") {
            Ok(())
        } else {
            Err(output())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_scale_and_stop_like_kubernetes() {
    let Some(scene) = Scene::new() else {
        return;
    };
    let base = scene.base();
    let out_path = scene.out_path();
    let out = std::fs::File::create(&out_path).unwrap();
    let mut stack = Command::new(STACK)
        .args(&scene.up)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let output = || std::fs::read_to_string(&out_path).unwrap_or_default();

    until_banner(&out_path).await;
    let ls = Command::new(scene.bin_dir.join("bilipulse"))
        .args([
            "rooms",
            "ls",
            "--json",
            "--nats-url",
            &format!("nats://127.0.0.1:{}", base + 150),
        ])
        .output()
        .unwrap();
    let registered = String::from_utf8_lossy(&ls.stdout).lines().count();
    assert_eq!(
        registered,
        5 + 3,
        "the named rooms and the generated ones: {ls:?}"
    );
    let before = processes(base).await.unwrap();
    let names: Vec<&str> = before.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "nats-0",
            "simulator",
            "ingester-0",
            "ingester-1",
            "windower-0",
            "gateway"
        ]
    );
    assert!(
        before
            .iter()
            .all(|s| s.phase == Phase::Running && s.restarts == 0)
    );

    // kill -9 of one ingester: that one is restarted, nothing else moves.
    let victim = pid_of(&before, "ingester-0").unwrap();
    std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    let after = converge(
        "ingester-0 restarted",
        Duration::from_secs(30),
        async || {
            let list = processes(base).await?;
            let s = list.iter().find(|s| s.name == "ingester-0").unwrap();
            match s.pid {
                Some(p) if p != victim && s.phase == Phase::Running => Ok(list),
                _ => Err(format!("{s:?}")),
            }
        },
    )
    .await;
    let restarted = after.iter().find(|s| s.name == "ingester-0").unwrap();
    assert_eq!(restarted.restarts, 1);
    assert!(
        restarted.last_exit.as_deref().unwrap().contains("SIGKILL"),
        "{restarted:?}"
    );
    for s in before.iter().filter(|s| s.name != "ingester-0") {
        assert_eq!(pid_of(&after, &s.name), s.pid, "{} kept running", s.name);
    }

    // Scale: one ingester more (ready when the command returns), then one less.
    let up = stack_cli(&["scale", "ingester", "+1"], base);
    assert!(up.status.success(), "{up:?}");
    assert_eq!(
        String::from_utf8_lossy(&up.stdout).trim(),
        "started ingester-2"
    );
    let three = processes(base).await.unwrap();
    let added = pid_of(&three, "ingester-2").expect("ingester-2 runs");
    let down = stack_cli(&["scale", "ingester", "-1"], base);
    assert_eq!(
        String::from_utf8_lossy(&down.stdout).trim(),
        "stopped ingester-2"
    );
    assert!(!alive(added), "ingester-2 has exited");
    let last = stack_cli(&["scale", "windower", "-1"], base);
    assert!(!last.status.success());
    assert!(String::from_utf8_lossy(&last.stderr).contains("only one windower is left"));
    let ps = stack_cli(&["ps"], base);
    assert!(
        String::from_utf8_lossy(&ps.stdout).contains("signal: 9 (SIGKILL)"),
        "{ps:?}"
    );

    // SIGTERM: everything stops, ingesters first, NATS last; nothing is left running.
    let running: Vec<u32> = processes(base)
        .await
        .unwrap()
        .iter()
        .filter_map(|s| s.pid)
        .collect();
    signal(stack.id(), rustix::process::Signal::TERM);
    let status = tokio::task::spawn_blocking(move || stack.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let stopped: Vec<String> = output()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .skip_while(|v| v["message"] != "stopping (ingesters first)")
        .filter(|v| v["message"] == "stopped" && v["name"].is_string())
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stopped.len(), 6, "{stopped:?}");
    assert!(
        stopped[..2].iter().all(|n| n.starts_with("ingester-")),
        "{stopped:?}"
    );
    assert_eq!(
        stopped[2..],
        ["windower-0", "gateway", "simulator", "nats-0"]
    );
    for pid in running {
        assert!(!alive(pid), "pid {pid} outlived the stack");
    }
}

#[tokio::test]
async fn a_busy_port_is_named_with_its_holder_before_anything_starts() {
    let Some(scene) = Scene::new() else {
        return;
    };
    let base = scene.base();
    let gateway = TcpListener::bind((Ipv4Addr::LOCALHOST, base + 153)).unwrap();
    let out = Command::new(STACK).args(&scene.up).output().unwrap();
    drop(gateway);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "port {} (for gateway) is in use by pid {}",
        base + 153,
        std::process::id()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(
        !scene.data().join("logs").exists(),
        "nothing was started or prepared"
    );
}

/// A script that starts the stack in the background (`bash -c '… &'`) hands it SIGINT ignored,
/// which a shell script cannot undo (the old deploy/run.sh kept running, and so did its
/// children). The stack installs its own handler: SIGINT stops it, in order, with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_a_stack_that_a_script_started_in_the_background() {
    let Some(scene) = Scene::new() else {
        return;
    };
    let base = scene.base();
    let out_path = scene.out_path();
    let args = scene.up.join(" ");
    let script = format!(
        "{STACK} {args} >{} 2>&1 & echo $!; wait $!",
        out_path.display()
    );
    let mut sh = Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pid = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(sh.stdout.take().unwrap()),
        &mut pid,
    )
    .unwrap();
    let pid: u32 = pid.trim().parse().expect("the background job's pid");
    let output = || std::fs::read_to_string(&out_path).unwrap_or_default();
    until_banner(&out_path).await;
    let running: Vec<u32> = processes(base)
        .await
        .unwrap()
        .iter()
        .filter_map(|s| s.pid)
        .collect();
    assert_eq!(running.len(), 6);

    signal(pid, rustix::process::Signal::INT);
    let status = tokio::task::spawn_blocking(move || sh.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "the stack's exit status, through `wait`: {status}"
    );
    assert!(
        output().contains("stopping (ingesters first)"),
        "{}",
        output()
    );
    for pid in running {
        assert!(!alive(pid), "pid {pid} outlived the stack");
    }
}
