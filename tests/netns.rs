//! A two-host lab in network namespaces, as in the DPM backup-network
//! document: `dpm` (10.10.12.89 on eth0, 192.168.1.23 on eth1) and `ps`
//! (10.10.12.90, 192.168.1.24), joined by a primary and a backup veth pair.
//! Every name is unique per test; the namespaces (and with them the veths
//! and every process inside) are removed on drop, even when a test fails.
//! Traffic stays inside these namespaces.

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::util::loud;

static NEXT: AtomicU32 = AtomicU32::new(0);

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
    let msg = format!("SKIPPED {test}: needs root for network namespaces (run `sudo make test`)");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: a skip is a failure)");
    }
    loud(&msg);
    false
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
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{}", std::process::id() % 100_000, n);
        let lab = Lab {
            dpm: format!("lc{tag}-dpm"),
            ps: format!("lc{tag}-ps"),
            servers: Vec::new(),
        };
        ip(&["netns", "add", &lab.dpm]);
        ip(&["netns", "add", &lab.ps]);
        for (net, a) in [("p", "eth0"), ("b", "eth1")] {
            let (x, y) = (format!("l{tag}{net}0"), format!("l{tag}{net}1"));
            ip(&["link", "add", &x, "type", "veth", "peer", "name", &y]);
            ip(&["link", "set", &x, "netns", &lab.dpm]);
            ip(&["link", "set", &y, "netns", &lab.ps]);
            ip(&["-n", &lab.dpm, "link", "set", &x, "name", a]);
            ip(&["-n", &lab.ps, "link", "set", &y, "name", a]);
        }
        for ns in [&lab.dpm, &lab.ps] {
            // No IPv6: no neighbour discovery noise in the byte counts.
            let out = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                ])
                .output()
                .unwrap();
            assert!(out.status.success());
            for dev in ["lo", "eth0", "eth1"] {
                ip(&["-n", ns, "link", "set", dev, "up"]);
            }
        }
        ip(&[
            "-n",
            &lab.dpm,
            "addr",
            "add",
            "10.10.12.89/24",
            "dev",
            "eth0",
        ]);
        ip(&[
            "-n",
            &lab.dpm,
            "addr",
            "add",
            "192.168.1.23/24",
            "dev",
            "eth1",
        ]);
        ip(&[
            "-n",
            &lab.ps,
            "addr",
            "add",
            "10.10.12.90/24",
            "dev",
            "eth0",
        ]);
        ip(&[
            "-n",
            &lab.ps,
            "addr",
            "add",
            "192.168.1.24/24",
            "dev",
            "eth1",
        ]);
        let mut lab = lab;
        for port in ["5719", "443"] {
            lab.sink(port);
        }
        lab
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

    fn sink(&mut self, port: &str) {
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
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let (x, y) = (format!("l{tag}r0"), format!("l{tag}r1"));
        ip(&["link", "add", &x, "type", "veth", "peer", "name", &y]);
        ip(&["link", "set", &x, "netns", &self.dpm]);
        ip(&["link", "set", &y, "netns", &self.ps]);
        ip(&["-n", &self.dpm, "link", "set", &x, "name", "eth1"]);
        ip(&["-n", &self.ps, "link", "set", &y, "name", "eth1"]);
        ip(&[
            "-n",
            &self.dpm,
            "addr",
            "add",
            "192.168.1.23/24",
            "dev",
            "eth1",
        ]);
        ip(&[
            "-n",
            &self.ps,
            "addr",
            "add",
            "192.168.1.24/24",
            "dev",
            "eth1",
        ]);
        ip(&["-n", &self.dpm, "link", "set", "eth1", "up"]);
        ip(&["-n", &self.ps, "link", "set", "eth1", "up"]);
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
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
