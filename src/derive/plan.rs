//! The derived policy as data, each choice with the reasons that made it:
//! what `write.rs` renders and `lint.rs` reads.

use std::net::IpAddr;

use ipnet::IpNet;

/// A network of the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetPlan {
    /// Its name (a cluster network's name, `primary`, `backup`…).
    pub name: String,
    /// Its prefixes; empty with `gap` when no input gave one.
    pub prefixes: Vec<IpNet>,
    /// No input gave a prefix: written as a marked gap.
    pub gap: bool,
    /// Which input and rule made it.
    pub why: Vec<String>,
}

/// `[classes.NAME]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassPlan {
    /// A built-in class.
    pub class: &'static str,
    /// Allowed networks, most preferred first.
    pub networks: Vec<String>,
    /// `on_fallback` when the list has more than one network.
    pub on_fallback: Fallback,
    /// Which input and rule made it.
    pub why: Vec<String>,
}

/// What a later network of a class's list means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// A fallback: a warning.
    Warn,
    /// Every listed network is equally fine.
    Allow,
}

/// A named host.
#[derive(Clone, Debug)]
pub struct HostPlan {
    /// Its name.
    pub name: String,
    /// Its addresses.
    pub addrs: Vec<IpAddr>,
    /// Where they came from.
    pub why: String,
}

/// A `[[dns]]` rule.
#[derive(Clone, Debug)]
pub struct DnsPlan {
    /// Names to check.
    pub names: Vec<String>,
    /// Networks one answered address must be on.
    pub must_include: Vec<String>,
    /// Why.
    pub why: Vec<String>,
}

/// The whole derived policy.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// One line per input used (the header comment).
    pub inputs: Vec<String>,
    /// `[networks]` in input order.
    pub networks: Vec<NetPlan>,
    /// `[interfaces]`: (interface, network, why).
    pub interfaces: Vec<(String, String, String)>,
    /// `[hosts]`.
    pub hosts: Vec<HostPlan>,
    /// `[roles]`: (role, host names, why).
    pub roles: Vec<(&'static str, Vec<String>, String)>,
    /// `[classes.*]` in the order written.
    pub classes: Vec<ClassPlan>,
    /// `[[dns]]`.
    pub dns: Vec<DnsPlan>,
}

impl Plan {
    /// The network called `name`.
    pub fn network(&self, name: &str) -> Option<&NetPlan> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// Adds `class`, or, when it is there, appends the networks it lacks
    /// (every network equally allowed then) and the reasons.
    pub fn merge_class(&mut self, c: ClassPlan) {
        match self.classes.iter_mut().find(|x| x.class == c.class) {
            None => self.classes.push(c),
            Some(x) => {
                for n in c.networks {
                    if !x.networks.contains(&n) {
                        x.networks.push(n);
                    }
                }
                x.on_fallback = Fallback::Allow;
                x.why.extend(c.why);
            }
        }
    }

    /// Adds a host, or the addresses it lacks.
    pub fn merge_host(&mut self, h: HostPlan) {
        match self.hosts.iter_mut().find(|x| x.name == h.name) {
            None => self.hosts.push(h),
            Some(x) => {
                for a in h.addrs {
                    if !x.addrs.contains(&a) {
                        x.addrs.push(a);
                    }
                }
                x.why = format!("{}; {}", x.why, h.why);
            }
        }
    }
}

/// `"name"` for comments.
pub fn q(name: &str) -> String {
    format!("\"{name}\"")
}

/// `"a", "b" and "c"`.
pub fn list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| q(n)).collect();
    match q.len() {
        0 => "none".into(),
        1 => q[0].clone(),
        n => format!("{} and {}", q[..n - 1].join(", "), q[n - 1]),
    }
}
