//! `--check-config` on every service binary, as an image build or a manifest's dry run uses it:
//! valid settings print the effective configuration (secrets hidden) and exit 0; a bad value
//! or an unreadable file named by a flag fails with the reason, before any connection.

use std::process::{Command, Output};

use bilipulse_testkit::tools;

fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Option<Output> {
    let path = bilipulse_testkit::require(bin, tools::workspace_bin(bin))?;
    Some(
        Command::new(path)
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .expect("runs"),
    )
}

#[test]
fn every_service_checks_its_configuration_without_connecting() {
    for bin in [
        "bilipulse-ingester",
        "bilipulse-windower",
        "bilipulse-gateway",
    ] {
        // An unreachable NATS does not matter: nothing connects.
        let env = [
            ("BILIPULSE_NATS_URL", "nats://127.0.0.1:9"),
            ("BILIPULSE_NATS_USER", "svc"),
            ("BILIPULSE_NATS_PASSWORD", "s3cret-password"),
        ];
        let Some(ok) = run(bin, &["--check-config"], &env) else {
            return;
        };
        let out = String::from_utf8_lossy(&ok.stdout);
        assert!(ok.status.success(), "{bin}: {ok:?}");
        assert!(
            out.contains("nats://127.0.0.1:9"),
            "{bin} prints its configuration: {out}"
        );
        assert!(
            !out.contains("s3cret-password"),
            "{bin} hides the password: {out}"
        );

        let Some(bad) = run(
            bin,
            &["--check-config", "--admin-addr", "not-an-address"],
            &env,
        ) else {
            return;
        };
        assert!(!bad.status.success(), "{bin} refuses a bad address");
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("not-an-address"),
            "{bin}: {bad:?}"
        );
    }
    let Some(cookie) = run(
        "bilipulse-ingester",
        &[
            "--check-config",
            "--bili-cookie-file",
            "/nonexistent/sessdata",
            "--bili-uid",
            "7",
        ],
        &[],
    ) else {
        return;
    };
    assert!(
        !cookie.status.success(),
        "an unreadable cookie file fails the check"
    );
    assert!(
        String::from_utf8_lossy(&cookie.stderr).contains("/nonexistent/sessdata"),
        "{cookie:?}"
    );

    let Some(sim) = run(
        "bilipulse-sim",
        &["--check-config", "--rooms", "5269:busy"],
        &[],
    ) else {
        return;
    };
    assert!(sim.status.success(), "{sim:?}");
    assert!(String::from_utf8_lossy(&sim.stdout).contains("5269"));
    let Some(bad_sim) = run(
        "bilipulse-sim",
        &["--check-config", "--rooms", "5269:nonsense"],
        &[],
    ) else {
        return;
    };
    assert!(
        !bad_sim.status.success(),
        "an unknown room profile is refused"
    );
}
