//! Scenario: a replicated stream on the 3-node test cluster keeps taking messages while one node
//! is down, and the node catches up after it restarts. This is what the harness promises the
//! failover tests of the services.

use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use async_nats::{Client, ConnectOptions, ServerAddr};
use bilipulse_testkit::{NatsCluster, NatsServer};

const STREAM: &str = "CLUSTER_TEST";
const DEADLINE: Duration = Duration::from_secs(60);

/// A client that talks to exactly these nodes (no hopping to discovered ones).
async fn client_for(nodes: &[&NatsServer]) -> Client {
    let addrs: Vec<ServerAddr> = nodes.iter().map(|n| n.url().parse().unwrap()).collect();
    ConnectOptions::new()
        .ignore_discovered_servers()
        .connect(addrs)
        .await
        .expect("connect to cluster nodes")
}

/// Publishes message `i` until the stream acknowledges it. A leader election after a node dies
/// briefly refuses publishes; the message id makes the retries land once.
async fn publish(js: &jetstream::Context, i: u32) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let sent = js
            .send_publish(
                format!("cluster.{i}"),
                PublishMessage::build()
                    .payload(i.to_string().into())
                    .message_id(format!("m{i}")),
            )
            .await;
        let acked = match sent {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked {
            Ok(_) => return,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "message {i} never acknowledged: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Stream info once every one of `peers` is a current, online member of the stream's group.
async fn wait_all_current(js: &jetstream::Context, peers: &[String]) -> stream::Info {
    let deadline = Instant::now() + DEADLINE;
    let mut last = String::new();
    loop {
        if let Ok(mut s) = js.get_stream(STREAM).await
            && let Ok(info) = s.info().await
            && let Some(cluster) = &info.cluster
        {
            let ok = peers.iter().all(|p| {
                cluster.leader.as_deref() == Some(p.as_str())
                    || cluster
                        .replicas
                        .iter()
                        .any(|r| &r.name == p && r.current && !r.offline)
            });
            if ok {
                return info.clone();
            }
            last = format!("{cluster:?}");
        }
        assert!(
            Instant::now() < deadline,
            "replicas not all current; last seen {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_stream_survives_a_node_restart() {
    let Some(mut cluster) = NatsCluster::start(3) else {
        return;
    };
    let victim = 2;
    let names: Vec<String> = {
        let mut names = Vec::new();
        for node in &cluster.nodes {
            names.push(client_for(&[node]).await.server_info().server_name);
        }
        names
    };

    let survivors = client_for(&[&cluster.nodes[0], &cluster.nodes[1]]).await;
    let js = jetstream::new(survivors);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let created = js
            .create_stream(stream::Config {
                name: STREAM.into(),
                subjects: vec!["cluster.>".into()],
                num_replicas: 3,
                ..Default::default()
            })
            .await;
        match created {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "cannot create the R3 stream: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    for i in 0..50 {
        publish(&js, i).await;
    }
    wait_all_current(&js, &names).await;

    // One node goes down; the other two keep a quorum and keep accepting messages.
    cluster.nodes[victim].kill();
    assert!(!cluster.nodes[victim].is_running());
    for i in 50..100 {
        publish(&js, i).await;
    }

    // It comes back on the same ports and store, and serves clients again.
    let mut node = cluster.nodes.remove(victim);
    let node = tokio::task::spawn_blocking(move || {
        node.restart();
        node
    })
    .await
    .unwrap();
    cluster.nodes.insert(victim, node);
    assert!(cluster.nodes[victim].is_running());
    let direct = jetstream::new(client_for(&[&cluster.nodes[victim]]).await);
    for i in 100..120 {
        publish(&direct, i).await;
    }

    let info = wait_all_current(&js, &names).await;
    assert_eq!(info.state.messages, 120, "every message, none twice");
    assert_eq!(info.state.last_sequence, 120);
    // The restarted node answers JetStream API requests for the stream again.
    let via_restarted = direct
        .get_stream(STREAM)
        .await
        .unwrap()
        .cached_info()
        .state
        .messages;
    assert_eq!(via_restarted, 120);
}
