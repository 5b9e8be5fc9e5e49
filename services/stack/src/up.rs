//! `up`: prepare, start, register the rooms, wait for summaries, print where everything is,
//! serve the control listener until a signal, stop in order.

use std::future::IntoFuture;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::UpArgs;
use crate::error::StackError;
use crate::plan::{Plan, Role};
use crate::stack::Stack;
use crate::{bootstrap, control};

/// Runs the stack until `stop` fires (a signal), then stops it in order. Returns the error that
/// ended a failed start, after stopping what had started. The control listener (`ps`,
/// `scale`) answers from before the first process starts until the last one has stopped.
pub async fn run(args: UpArgs, stop: CancellationToken) -> Result<(), StackError> {
    let control_addr = args.control_addr();
    let stack = Arc::new(Stack::prepare(Plan::new(args))?);
    let listener = tokio::net::TcpListener::bind(control_addr)
        .await
        .map_err(|source| StackError::Control {
            addr: control_addr,
            source,
        })?;
    let serving = CancellationToken::new();
    let control = tokio::spawn(
        axum::serve(listener, control::router(stack.clone()))
            .with_graceful_shutdown(serving.clone().cancelled_owned())
            .into_future(),
    );
    let outcome = match start(&stack, &stop).await {
        Ok(()) => {
            stop.cancelled().await;
            tracing::info!("stopping (ingesters first)");
            Ok(())
        }
        Err(e) => Err(e),
    };
    stack.stop().await;
    tracing::info!("stopped");
    serving.cancel();
    if let Ok(Err(e)) = control.await {
        tracing::error!(error = %e, "control listener failed");
    }
    outcome
}

async fn start(stack: &Stack, stop: &CancellationToken) -> Result<(), StackError> {
    stack.start(stop).await?;
    let plan = stack.plan();
    let rooms = bootstrap::rooms(plan, stack.http()).await?;
    tracing::info!(count = rooms.len(), "registering rooms");
    bootstrap::register(plan, &rooms).await?;
    let within = plan.args().summary_timeout;
    tracing::info!(?within, "waiting for the first window summary");
    let subject = tokio::select! {
        s = bootstrap::first_summary(plan, within) => s?,
        () = stop.cancelled() => return Err(StackError::Interrupted),
    };
    tracing::info!(%subject, "summaries are flowing");
    // Subjects carry real room ids (bili.summary.<room>.<width>), never short ones.
    let room = subject.split('.').nth(2).unwrap_or("5269");
    println!("{}", banner(plan, room));
    Ok(())
}

/// Where everything is, printed once summaries flow.
pub fn banner(plan: &Plan, room: &str) -> String {
    let a = plan.args();
    let bin = a.bin_dir.display();
    let nats = plan.nats_url();
    let nats_flag = if nats == "nats://127.0.0.1:4222" {
        String::new()
    } else {
        format!(" --nats-url {nats}")
    };
    let logs = plan.files().logs.display();
    let token = plan.files().api_token.display();
    let gw = a.gateway_addr;
    let source = if a.bilibili {
        "real Bilibili".to_owned()
    } else {
        format!(
            "the simulator on http://{} (ground truth in {}/sim-truth.jsonl)",
            a.sim_addr,
            plan.files().root.display()
        )
    };
    let control = a.control_addr();
    let ingester0 = plan.admin_port(Role::Ingester, 0);
    let windower0 = plan.admin_port(Role::Windower, 0);
    format!(
        "\nbilipulse is running (logs in {logs}), watching {source}\n\
         \x20 NATS       {nats} (monitoring http://127.0.0.1:{mon})\n\
         \x20 ingesters  {ni}, admin from port {ingester0}; windowers {nw}, admin from port {windower0}\n\
         \x20 gateway    http://{gw}/ws and /api (admin port {gwa})\n\n\
         Dashboard:   http://{gw}/   (adding and removing rooms needs the token in {token})\n\
         \x20 curl -N 'http://{gw}/api/rooms/{room}/stream?channels=1s'\n\n\
         Watch it:\n\
         \x20 {bin}/bilipulse tail{nats_flag} 'bili.summary.>'   # window summaries\n\
         \x20 {bin}/bilipulse rooms ls{nats_flag}               # rooms, owners, states\n\
         \x20 {bin}/bilipulse recount{nats_flag} --room {room} --window 1m --compare\n\n\
         Rehearse Kubernetes (control on http://{control}):\n\
         \x20 deploy/scale.sh ingester +1    # or -1, or windower ±1: watch rooms move\n\
         \x20 {bin}/bilipulse-stack ps       # processes, pids, restarts\n\
         \x20 kill -9 <an ingester's pid>    # it is restarted and takes its rooms back\n\n\
         Ctrl-C (or SIGTERM, SIGHUP) stops everything, ingesters first.",
        mon = a.nats_monitor_port,
        ni = a.ingesters,
        nw = a.windowers,
        gwa = plan.admin_port(Role::Gateway, 0),
    )
}
