//! A two-host lab in network namespaces, as in the DPM backup-network
//! document: `dpm` (10.10.12.89 on eth0, 192.168.1.23 on eth1) and `ps`
//! (10.10.12.90, 192.168.1.24), joined by a primary and a backup veth pair.
//! Every name is unique per test; the namespaces (and with them the veths
//! and every process inside) are removed on drop, even when a test fails.
//! Traffic stays inside these namespaces.

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A short tag unique to this process and call (interface names are at most
/// 15 characters).
fn unique() -> String {
    format!(
        "{}{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// True when running as root; otherwise prints a loud notice, and under
/// `CI=true` fails instead.
pub fn root_or_skip(test: &str) -> bool {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .unwrap_or_default();
    if uid == "0" {
        return true;
    }
    crate::util::skip(
        test,
        "needs root for network namespaces (run `sudo make test`)",
    )
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running lab.
pub struct Lab {
    pub dpm: String,
    pub ps: String,
    servers: Vec<Child>,
}

const SINK: &str = "
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1])))
s.listen()
print('ready', flush=True)
while True:
    c, _ = s.accept()
    while c.recv(65536):
        pass
    c.close()
";

/// Sends N bytes to ADDR:PORT and waits for the peer to close.
pub const SEND: &str = "
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b'x' * int(sys.argv[3]))
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
";

impl Lab {
    /// Builds the lab with TCP sinks on ps:5719 and ps:443.
    pub fn new() -> Lab {
        let mut lab = Lab {
            dpm: String::new(),
            ps: String::new(),
            servers: Vec::new(),
        };
        let tag = unique();
        (lab.dpm, lab.ps) = (format!("lc{tag}-dpm"), format!("lc{tag}-ps"));
        ip(&["netns", "add", &lab.dpm]);
        ip(&["netns", "add", &lab.ps]);
        for ns in [&lab.dpm, &lab.ps] {
            // No IPv6: no neighbour discovery noise in the byte counts.
            ip(&[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        lab.link("eth0", "10.10.12.89/24", "10.10.12.90/24");
        lab.link("eth1", "192.168.1.23/24", "192.168.1.24/24");
        for port in ["5719", "443"] {
            lab.sink(port);
        }
        lab
    }

    /// A veth pair named `dev` on both hosts, addressed and up.
    pub fn link(&self, dev: &str, dpm_addr: &str, ps_addr: &str) {
        let tag = unique();
        let (x, y) = (format!("l{tag}a"), format!("l{tag}b"));
        ip(&["link", "add", &x, "type", "veth", "peer", "name", &y]);
        for (ns, end, addr) in [(&self.dpm, &x, dpm_addr), (&self.ps, &y, ps_addr)] {
            ip(&["link", "set", end, "netns", ns]);
            ip(&["-n", ns, "link", "set", end, "name", dev]);
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
    }

    /// Starts `python3 -c SCRIPT ARGS…` in `ns`, waits for it to print
    /// `ready`, and stops it with the lab.
    pub fn serve(&mut self, ns: &str, script: &str, args: &[&str]) {
        use std::io::BufRead;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", script])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start helper server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "helper server did not start");
        self.servers.push(child);
    }

    /// A TCP sink on ps:`port` that reads and discards.
    pub fn sink(&mut self, port: &str) {
        use std::io::BufRead;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ps, "python3", "-c", SINK, port])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start sink");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        self.servers.push(child);
    }

    /// Deletes the backup veth pair and creates it again (same names and
    /// addresses), as when a NIC vanishes and comes back.
    pub fn recreate_backup_link(&self, between: impl FnOnce()) {
        ip(&["-n", &self.dpm, "link", "del", "eth1"]);
        between();
        self.link("eth1", "192.168.1.23/24", "192.168.1.24/24");
    }

    /// A command run inside a namespace.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    }

    /// `python3 -c SEND ADDR PORT BYTES` as argv.
    pub fn send_argv(addr: &str, port: u16, bytes: u64) -> Vec<String> {
        vec![
            "python3".into(),
            "-c".into(),
            SEND.into(),
            addr.into(),
            port.to_string(),
            bytes.to_string(),
        ]
    }

    /// The kernel's (bytes, packets) counters of `dev` in `ns`, both directions.
    pub fn counters(&self, ns: &str, dev: &str) -> (u64, u64) {
        let out: Output = Command::new("ip")
            .args(["-n", ns, "-s", "-j", "link", "show", dev])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
        let s = &v[0]["stats64"];
        let get = |d: &str, k: &str| s[d][k].as_u64().unwrap();
        (
            get("rx", "bytes") + get("tx", "bytes"),
            get("rx", "packets") + get("tx", "packets"),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.dpm, &self.ps] {
            kill_all_in(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Kills every process still running in namespace `ns`: a test that
/// panicked leaves its `watch`, capture and senders behind otherwise (its
/// `Child` handles do not kill on drop), and they would outlive the suite.
fn kill_all_in(ns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return;
    };
    let pids = String::from_utf8_lossy(&out.stdout).into_owned();
    let pids: Vec<&str> = pids.split_whitespace().collect();
    if !pids.is_empty() {
        let _ = Command::new("kill").arg("-KILL").args(&pids).output();
    }
}
