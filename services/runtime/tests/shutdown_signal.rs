//! Scenario: Kubernetes stops the pod with SIGTERM; the service's shutdown token fires.
//! (Its own test binary: the signal goes to the whole process.)

use std::time::Duration;

use bilipulse_runtime::shutdown::Shutdown;

#[tokio::test]
async fn sigterm_fires_the_shutdown() {
    let shutdown = Shutdown::on_signals().unwrap();
    assert!(!shutdown.is_triggered());
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .await
        .expect("run kill");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(10), shutdown.cancelled())
        .await
        .expect("SIGTERM did not fire the shutdown");
}
