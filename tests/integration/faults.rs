//! The query history's database failing under a running hush: locked by another process,
//! deleted, on a full filesystem, or on a filesystem that turns read-only after an I/O error
//! (the last two each in its own mount namespace on a small filesystem made for it). DNS must keep answering, the errors must show in `/api/health` and
//! `/metrics`, and the rows of queries answered meanwhile must be written once the disk is
//! usable again.

use std::io::Write;
use std::path::Path;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::support::*;

/// Sends `count` queries for distinct names (not in the upstream's zone) and checks each gets
/// the upstream's answer.
async fn queries_answered(hush: &LoggedHush, prefix: &str, count: usize) {
    for i in 0..count {
        let reply = udp_query(
            hush.dns,
            &format!("{prefix}{i}.example.com."),
            RecordType::A,
        )
        .await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NXDomain,
            "DNS kept answering"
        );
    }
}

async fn errors_reported(hush: &LoggedHush, message: &str) {
    let health = hush
        .wait_for_health("a write error", |health| {
            health["querylog"]["errors"].as_u64().unwrap_or(0) > 0
        })
        .await;
    assert_eq!(health["status"], "degraded", "{health}");
    let last_error = health["querylog"]["last_error"].as_str().unwrap_or("");
    assert!(last_error.contains(message), "{health}");
    let metrics = hush.metrics().await;
    let errors: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("hush_querylog_errors_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    assert!(errors > 0, "{metrics}");
}

/// Rows for every query, the ones answered during the fault included, and health back to ok.
async fn writing_resumed(hush: &LoggedHush, expected: usize) {
    let rows = hush.wait_for_rows("domain=example.com", expected).await;
    assert_eq!(rows.len(), expected, "{rows:?}");
    hush.wait_for_health("recovery", |health| health["status"] == "ok")
        .await;
}

fn start_config(dir: &Path) {
    std::fs::write(dir.join("block.txt"), "").unwrap();
    std::fs::create_dir(dir.join("db")).unwrap();
}

/// Stops hush, then unmounts the database's filesystem before its folder is removed.
async fn stop_and_unmount(hush: LoggedHush, mount_point: &str) {
    let LoggedHush {
        hush: server, dir, ..
    } = hush;
    server.shutdown().await;
    run_command("umount", &[mount_point]);
    drop(dir);
}

#[tokio::test]
async fn a_full_disk_leaves_dns_answering_and_writing_resumes_when_space_returns() {
    if let Namespace::Outside = in_namespace(
        "faults::a_full_disk_leaves_dns_answering_and_writing_resumes_when_space_returns",
        &["--mount"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    start_config(dir.path());
    let db = dir.path().join("db");
    let db_arg = db.to_str().unwrap();
    run_command("mount", &["-t", "tmpfs", "-o", "size=4m", "tmpfs", db_arg]);
    let upstream = Upstream::start().await;
    let hush = start_logged_in(dir, upstream.addr, "database = \"db/history.db\"\n").await;
    queries_answered(&hush, "before", 2).await;
    hush.wait_for_rows("domain=example.com", 2).await;

    let filler = db.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    drop(file);
    queries_answered(&hush, "during", 5).await;
    errors_reported(&hush, "full").await;

    std::fs::remove_file(&filler).unwrap();
    writing_resumed(&hush, 7).await;
    stop_and_unmount(hush, db_arg).await;
}

#[tokio::test]
async fn a_filesystem_gone_read_only_is_let_go_and_writing_resumes_on_a_fresh_mount() {
    if let Namespace::Outside = in_namespace(
        "faults::a_filesystem_gone_read_only_is_let_go_and_writing_resumes_on_a_fresh_mount",
        &["--mount"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    start_config(dir.path());
    let db = dir.path().join("db");
    let db_arg = db.to_str().unwrap().to_owned();
    let image = dir.path().join("disk.img");
    let image_arg = image.to_str().unwrap().to_owned();
    std::fs::File::create(&image)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    run_command("mkfs.ext4", &["-q", "-F", &image_arg]);
    let mount = || {
        std::process::Command::new("mount")
            .args(["-o", "loop,errors=remount-ro", &image_arg, &db_arg])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if !mount() {
        eprintln!("note: skipped: this machine cannot mount a loop device");
        return;
    }
    let upstream = Upstream::start().await;
    let hush = start_logged_in(dir, upstream.addr, "database = \"db/history.db\"\n").await;
    queries_answered(&hush, "before", 2).await;
    hush.wait_for_rows("domain=example.com", 2).await;
    run_command("sync", &["-f", &db_arg]);

    // What ext4 does on a disk error with errors=remount-ro: read-only at once, open files too.
    let source = std::process::Command::new("findmnt")
        .args(["-no", "SOURCE", &db_arg])
        .output()
        .unwrap();
    let device = String::from_utf8_lossy(&source.stdout).trim().to_owned();
    let device = device.trim_start_matches("/dev/");
    std::fs::write(
        format!("/sys/fs/ext4/{device}/trigger_fs_error"),
        "hush test",
    )
    .unwrap();
    queries_answered(&hush, "during", 3).await;
    errors_reported(&hush, "").await;

    // The administrator's repair: unmount (only possible once hush let go of the file) and
    // mount again, read-write.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !std::process::Command::new("umount")
        .arg(&db_arg)
        .output()
        .is_ok_and(|output| output.status.success())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "hush kept the read-only database open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(mount(), "mounting the repaired filesystem");
    writing_resumed(&hush, 5).await;
    stop_and_unmount(hush, &db_arg).await;
}

#[tokio::test]
async fn a_locked_database_leaves_dns_answering_and_shows_in_health() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "", "").await;
    let mut blocker = lock_database(&hush.dir.path().join("history.db")).await;
    for _ in 0..3 {
        let reply = udp_query(hush.dns, "www.example.com.", RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    }
    let health = hush
        .wait_for_health("a write error", |health| {
            health["querylog"]["errors"].as_u64().unwrap_or(0) > 0
        })
        .await;
    assert_eq!(health["status"], "degraded");
    assert!(
        health["querylog"]["last_error"]
            .as_str()
            .unwrap()
            .contains("locked"),
        "{health}"
    );
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    drop(blocker);
    let rows = hush.wait_for_rows("", 3).await;
    assert_eq!(rows.len(), 3);
    let (_, health) = hush.get("/api/health").await;
    assert_eq!(health["status"], "ok");
}
#[tokio::test]
async fn a_deleted_database_is_recreated_and_writing_resumes() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "", "").await;
    udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    hush.wait_for_rows("", 1).await;
    for file in ["history.db", "history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(hush.dir.path().join(file));
    }
    for _ in 0..3 {
        let reply = udp_query(hush.dns, "example.com.", RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "DNS kept answering"
        );
    }
    let rows = hush.wait_for_rows("domain=example.com", 3).await;
    assert!(
        rows.iter().all(|row| row["domain"] == "example.com"),
        "{rows:?}"
    );
    assert!(
        hush.dir.path().join("history.db").exists(),
        "a new database file was created"
    );
}
