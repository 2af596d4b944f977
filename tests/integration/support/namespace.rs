//! Running a test again inside Linux namespaces of its own, and the commands such tests run.

/// Where a test that needs Linux namespaces is running; see [`in_namespace`].
pub enum Namespace {
    /// In the child: mount, unmount and make interfaces freely, they vanish with it.
    Inside,
    /// In the parent, after the child passed (or after saying why it could not run).
    Outside,
}

const NAMESPACE_VAR: &str = "HUSH_TEST_IN_NAMESPACE";

/// Runs the test `test` (its path in this binary, e.g. `faults::a_full_disk`) again in a child
/// process inside new namespaces (`unshare` flags such as `--mount` or `--net`), so it can mount
/// small filesystems or add network interfaces without touching the machine. Returns `Inside`
/// in that child. In the parent it waits for the child, fails when the child failed, and
/// returns `Outside`; a machine that cannot make namespaces (no root, no `unshare`) gets a note
/// and `Outside`.
pub fn in_namespace(test: &str, flags: &[&str]) -> Namespace {
    if std::env::var(NAMESPACE_VAR).as_deref() == Ok(test) {
        return Namespace::Inside;
    }
    let usable = std::process::Command::new("unshare")
        .args(flags)
        .arg("true")
        .output()
        .is_ok_and(|output| output.status.success());
    if !usable {
        eprintln!("note: {test} skipped: this machine cannot make {flags:?} namespaces");
        return Namespace::Outside;
    }
    let output = std::process::Command::new("unshare")
        .args(flags)
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(NAMESPACE_VAR, test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{test} failed inside its namespace:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "{test} did not run inside its namespace:\n{stdout}\n{stderr}"
    );
    eprint!("{stderr}");
    Namespace::Outside
}

/// Runs a command the test needs (mount, ip, ...), failing with its output when it fails.
pub fn run_command(program: &str, args: &[&str]) {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
