//! Headless Chromium driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: commands on the browser's fd 3, answers and
//! events on its fd 4, each message JSON ending in NUL), so no WebSocket,
//! driver or port is needed. `sh` maps our stdin/stdout pipes onto fds 3
//! and 4 (`exec … 3<&0 4>&1`), so no `unsafe` is needed either.
//!
//! Everything is waited for by protocol events, never by sleeping: a page
//! is loaded when `Page.loadEventFired` arrives for its session, and a
//! command's answer comes after every event the browser sent before it,
//! so console messages and requests of the load are all in hand by then.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::skip;

/// How long any one answer or event may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// The flags the issue names, plus the pipe and an empty profile.
const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
];

/// A running browser.
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    messages: Receiver<Value>,
    /// Events read while waiting for an answer, not yet looked at.
    pending: VecDeque<Value>,
    next_id: u64,
    _profile: tempfile::TempDir,
    log: PathBuf,
}

/// What loading a page showed.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The DevTools session of its tab, and the tab.
    pub session: String,
    pub target: String,
    /// Console and log entries: (level, text).
    pub console: Vec<(String, String)>,
    /// Every URL requested other than the page itself.
    pub requests: Vec<String>,
}

impl Loaded {
    /// Console entries at level error or warning.
    pub fn problems(&self) -> Vec<&(String, String)> {
        self.console
            .iter()
            .filter(|(level, _)| matches!(level.as_str(), "error" | "warning"))
            .collect()
    }
}

impl Browser {
    /// Starts Debian's `chromium` with an empty profile, or returns `None`
    /// after a skip notice when it is not installed.
    pub fn launch() -> Option<Browser> {
        let found = Command::new("chromium").arg("--version").output();
        if !found.is_ok_and(|o| o.status.success()) {
            skip(
                "the HTML report in a browser",
                "chromium not found (`make test` installs it)",
            );
            return None;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let log = profile.path().with_extension("log");
        let mut child = Command::new("sh")
            .args(["-c", "exec \"$@\" 3<&0 4>&1 </dev/null >/dev/null", "sh"])
            .arg("chromium")
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("browser log"))
            .spawn()
            .expect("start chromium");
        let commands = child.stdin.take().expect("fd 3");
        let answers = BufReader::new(child.stdout.take().expect("fd 4"));
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            for msg in answers.split(0) {
                let Ok(bytes) = msg else { break };
                let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
                    continue;
                };
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Some(Browser {
            child,
            commands,
            messages,
            pending: VecDeque::new(),
            next_id: 0,
            _profile: profile,
            log,
        })
    }

    fn next(&mut self) -> Value {
        match self.messages.recv_timeout(PATIENCE) {
            Ok(v) => v,
            Err(e) => panic!(
                "chromium said nothing for {PATIENCE:?} ({e}); its log: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            ),
        }
    }

    /// Sends a command (to a tab's session, or the browser) and waits for
    /// its answer; events that arrive meanwhile are kept for later.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).expect("write to chromium");
        loop {
            let v = self.next();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
            self.pending.push_back(v);
        }
    }

    /// The next event of `session`, waiting for it if needed.
    fn event(&mut self, session: &str) -> Value {
        let at = self.pending.iter().position(|e| e["sessionId"] == session);
        match at.and_then(|i| self.pending.remove(i)) {
            Some(e) => e,
            None => loop {
                let v = self.next();
                if v["sessionId"] == session {
                    break v;
                }
                self.pending.push_back(v);
            },
        }
    }

    /// Opens `file` in a new 1280-pixel-wide tab and waits for its load
    /// event, recording console messages and requests meanwhile.
    pub fn load(&mut self, file: &Path) -> Loaded {
        let url = format!("file://{}", file.display());
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let session = attached["sessionId"].as_str().unwrap().to_string();
        let s = Some(session.as_str());
        for domain in ["Page", "Runtime", "Log", "Network"] {
            self.call(s, &format!("{domain}.enable"), json!({}));
        }
        self.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        self.call(s, "Page.navigate", json!({"url": url}));
        let mut loaded = Loaded {
            session: session.clone(),
            target: target["targetId"].as_str().unwrap().to_string(),
            ..Loaded::default()
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(Instant::now() < deadline, "{url} did not load");
            let e = self.event(&session);
            if e["method"] == "Page.loadEventFired" {
                break;
            }
            note(&mut loaded, &e, &url);
        }
        // Whatever the page logged or fetched before this answer is in.
        self.call(s, "Runtime.evaluate", json!({"expression": "0"}));
        let rest: Vec<Value> = self
            .pending
            .iter()
            .filter(|e| e["sessionId"] == session)
            .cloned()
            .collect();
        self.pending.retain(|e| e["sessionId"] != session);
        for e in &rest {
            note(&mut loaded, e, &url);
        }
        loaded
    }

    /// Evaluates `expression` in the page (which itself runs no script)
    /// and returns its JSON value.
    pub fn eval(&mut self, page: &Loaded, expression: &str) -> Value {
        let r = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Emulates a media type (`print`, `screen`) and colour scheme.
    pub fn media(&mut self, page: &Loaded, media: &str, scheme: &str) {
        self.call(
            Some(&page.session),
            "Emulation.setEmulatedMedia",
            json!({"media": media, "features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        );
    }

    /// Writes a PNG of the whole page to `to`.
    pub fn screenshot(&mut self, page: &Loaded, to: &Path) {
        let s = Some(page.session.as_str());
        let metrics = self.call(s, "Page.getLayoutMetrics", json!({}));
        let height = metrics["cssContentSize"]["height"].as_f64().unwrap().ceil();
        let shot = self.call(
            s,
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}}),
        );
        write_base64(&shot["data"], to);
    }

    /// Writes the page printed as PDF (A4) to `to`.
    pub fn pdf(&mut self, page: &Loaded, to: &Path) {
        let pdf = self.call(
            Some(&page.session),
            "Page.printToPDF",
            json!({"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": true}),
        );
        write_base64(&pdf["data"], to);
    }

    /// Closes the page's tab.
    pub fn close(&mut self, page: &Loaded) {
        self.call(None, "Target.closeTarget", json!({"targetId": page.target}));
        self.pending
            .retain(|e| e["sessionId"] != page.session.as_str());
    }
}

fn write_base64(data: &Value, to: &Path) {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.as_str().expect("base64 data"))
        .expect("valid base64");
    std::fs::write(to, bytes).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
}

/// Records a console message or a request of the page at `url`.
fn note(loaded: &mut Loaded, e: &Value, url: &str) {
    let p = &e["params"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    match e["method"].as_str().unwrap_or("") {
        "Runtime.consoleAPICalled" => {
            let args: Vec<String> = p["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a["value"].to_string())
                .collect();
            loaded.console.push((text(&p["type"]), args.join(" ")));
        }
        "Runtime.exceptionThrown" => loaded
            .console
            .push(("error".into(), p["exceptionDetails"].to_string())),
        "Log.entryAdded" => loaded
            .console
            .push((text(&p["entry"]["level"]), text(&p["entry"]["text"]))),
        "Network.requestWillBeSent" if p["request"]["url"] != url => {
            loaded.requests.push(text(&p["request"]["url"]))
        }
        _ => {}
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
