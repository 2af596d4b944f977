//! The query-log writer's priority, seen from outside the process: its threads (the writer's
//! and its database connection's) run as background work (`SCHED_IDLE`) while it keeps up,
//! return to normal priority when a burst fills its queue, and go back once it is calm again;
//! the DNS threads are never moved.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::support::*;

const WRITER_THREADS: [&str; 2] = ["hush-querylog", "hush-log-db"];

/// The scheduling policy (field 41 of `stat`) of each of `pid`'s threads, by name.
fn policies(pid: u32) -> Vec<(String, i32)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let after_name = stat.get(stat.rfind(')')? + 2..)?;
            let policy = after_name.split(' ').nth(38)?.parse().ok()?;
            Some((name.trim_end().to_owned(), policy))
        })
        .collect()
}

/// Whether every writer thread exists and has `policy`, and no other thread has left normal
/// priority.
fn writer_at(pid: u32, policy: i32) -> bool {
    let threads = policies(pid);
    WRITER_THREADS.iter().all(|writer| {
        threads
            .iter()
            .any(|(name, found)| name == writer && *found == policy)
    }) && threads
        .iter()
        .filter(|(name, _)| !WRITER_THREADS.contains(&name.as_str()))
        .all(|(_, found)| *found == libc::SCHED_OTHER)
}

/// Whether this process may move a thread into `SCHED_IDLE` and back (root, `CAP_SYS_NICE`
/// or `RLIMIT_NICE`): hush only uses the background when it can come back.
fn can_leave_background() -> bool {
    std::thread::spawn(|| {
        let set = |policy| {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: a valid sched_param for the call; 0 is the calling thread.
            unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
        };
        set(libc::SCHED_IDLE) && set(libc::SCHED_OTHER)
    })
    .join()
    .unwrap_or(false)
}

async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_writer_yields_to_dns_while_it_keeps_up_and_not_when_it_falls_behind() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "tracker.example.com\n").unwrap();
    let dns: SocketAddr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = format!(
        "[dns]\nlisten = [\"{dns}\"]\nupstreams = [\"udp://{}\"]\nrate_limit = 0\n\
         [blocking]\nanswer = \"nxdomain\"\nlists = [\"block.txt\"]\n\
         [querylog]\ndatabase = \"history.db\"\nqueue = 1024\n[api]\nlisten = \"127.0.0.1:0\"\n",
        upstream.addr
    );
    let child = spawn_hush(dir.path(), &config, dns).await;
    let pid = child.0.id();

    if !can_leave_background() {
        println!(
            "note: this machine does not let a thread leave SCHED_IDLE; checking that hush stays at normal priority"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(writer_at(pid, libc::SCHED_OTHER), "{:?}", policies(pid));
        return;
    }
    let calm = "the writer's threads were not in the background while it kept up";
    wait_until(calm, Duration::from_secs(10), || {
        writer_at(pid, libc::SCHED_IDLE)
    })
    .await;

    // A database that another connection holds locked stalls the writer's flush, so events
    // pile up in its 1,024-event queue while queries keep coming.
    let mut blocker = lock_database(&dir.path().join("history.db")).await;
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    while !writer_at(pid, libc::SCHED_OTHER) {
        assert!(
            Instant::now() < deadline,
            "the writer stayed in the background with its queue filling: {:?}",
            policies(pid)
        );
        for _ in 0..50 {
            let packet = query_message(&format!("q{sent}.tracker.example.com."), RecordType::A);
            let _ = sender.send_to(&packet.to_vec().unwrap(), dns);
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    drop(blocker);

    // A short queue for a second sends it back (eight seconds leave room for the backlog and a
    // slow machine; the rule before waited ten, after which a benchmark's next pass ran with
    // the writer still at normal priority).
    wait_until(
        "the writer did not return to the background once calm",
        Duration::from_secs(8),
        || writer_at(pid, libc::SCHED_IDLE),
    )
    .await;
    let answer = udp_query(dns, "after.tracker.example.com.", RecordType::A).await;
    assert_eq!(
        answer.metadata.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );
}
