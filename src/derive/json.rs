//! The JSON exports (`… | ConvertTo-Json`): cluster networks, cluster
//! network interfaces, live-migration settings.
//!
//! PowerShell writes one object for one result and an array for several;
//! property names are case-insensitive there, so they are here; properties
//! other than the ones read are ignored (a full `Get-ClusterNetwork |
//! ConvertTo-Json` works too). Values are checked as they are read, inside
//! serde visitors, so serde_json's error carries the line and column of the
//! offending value; checks that need two properties (an address without a
//! mask) point at the end of their object and name the network.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use ipnet::IpNet;

use super::inputs::{self, ClusterNet, Export, Migration, NodeIface, Role, METRIC_MAX};
use super::source::{InputError, Source};

/// Parses `src` as one object or an array of them.
fn parse<T: DeserializeOwned>(src: &Source) -> Result<Vec<T>, InputError> {
    let mut de = serde_json::Deserializer::from_str(&src.text);
    let parsed = OneOrMany::<T>::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    parsed.map(|v| v.0).map_err(|e| located(src, &e))
}

/// A serde_json error as `FILE:LINE:COLUMN: message`.
fn located(src: &Source, e: &serde_json::Error) -> InputError {
    let first = src.text.trim_start();
    if !first.starts_with(['{', '[']) {
        return not_json(src, first);
    }
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    let message = if e.is_eof() {
        format!("{message} (the JSON is cut short)")
    } else {
        message.to_string()
    };
    InputError::at(&src.path, e.line(), e.column(), message)
}

/// A file that is no JSON at all (a CSV from `Export-Csv`, a console table,
/// other text saved as `.json`), located at its first character (`first`:
/// the text from there).
fn not_json(src: &Source, first: &str) -> InputError {
    let lead = &src.text[..src.text.len() - first.len()];
    let line = lead.matches('\n').count() + 1;
    let column = lead.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let head: String = first
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(40)
        .collect();
    InputError::at(
        &src.path,
        line,
        column,
        format!("not JSON: the file starts with {head:?}, where a ConvertTo-Json export starts with {{ or [ (a CSV from Export-Csv, or a table, saved as .json?); export it with ConvertTo-Json as docs/derive.md shows"),
    )
}

/// `Get-ClusterNetwork | Select-Object Id,Name,Address,AddressMask,Role,Metric,AutoMetric,State | ConvertTo-Json`.
pub fn networks(src: &Source) -> Result<Vec<ClusterNet>, InputError> {
    let raw: Vec<RawNet> = parse(src)?;
    if raw.is_empty() {
        return Err(InputError::file(&src.path, "lists no cluster network"));
    }
    Ok(raw
        .into_iter()
        .map(|r| ClusterNet {
            origin: src.path.clone(),
            ..r.0
        })
        .collect())
}

/// `Get-ClusterNetworkInterface | Select-Object Node,Network,Adapter,Address | ConvertTo-Json`.
pub fn interfaces(src: &Source) -> Result<Vec<NodeIface>, InputError> {
    let raw: Vec<RawIface> = parse(src)?;
    if raw.is_empty() {
        return Err(InputError::file(&src.path, "lists no network interface"));
    }
    Ok(raw.into_iter().map(|r| r.0).collect())
}

/// `Get-ClusterResourceType "Virtual Machine" | Get-ClusterParameter
/// MigrationExcludeNetworks,MigrationNetworkOrder | Select-Object Name,Value | ConvertTo-Json`.
pub fn migration(src: &Source) -> Result<Migration, InputError> {
    let raw: Vec<RawParam> = parse(src)?;
    let mut m = Migration {
        origin: src.path.clone(),
        ..Migration::default()
    };
    let mut found = false;
    for p in raw {
        let ids = || -> Vec<String> {
            p.value
                .iter()
                .flat_map(|v| v.split(';'))
                .map(|s| s.trim().trim_matches(['{', '}']).to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        match p.name.to_ascii_lowercase().as_str() {
            "migrationexcludenetworks" => (m.exclude, found) = (ids(), true),
            "migrationnetworkorder" => (m.order, found) = (ids(), true),
            _ => {}
        }
    }
    if !found {
        return Err(InputError::file(
            &src.path,
            "has neither MigrationExcludeNetworks nor MigrationNetworkOrder",
        ));
    }
    Ok(m)
}

/// One object, or an array of objects.
struct OneOrMany<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object or an array of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(OneOrMany(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|x| OneOrMany(vec![x]))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A text value: a string, a number (printed), or null.
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            /// A nested object (`Node`, `Network` serialized whole): its `Name`.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
                let mut name = None;
                while let Some(k) = map.next_key::<String>()? {
                    if k.eq_ignore_ascii_case("name") {
                        name = map.next_value::<Text>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Text(name))
            }
        }
        d.deserialize_any(V)
    }
}

/// `Role`: a number 0–3 or the enum text.
impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Role;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Role: 0-3 or None, Cluster, Client, ClusterAndClient")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Role, E> {
                Role::try_new(v).ok_or_else(|| E::custom(inputs::out_of_range(&v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Role, E> {
                Err(E::custom(inputs::out_of_range(&v.to_string())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Role, E> {
                Role::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `Metric`: 1–0x0FFFFFFF.
struct Metric(u32);

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Metric;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Metric (a number 1-268435455)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Metric, E> {
                match u32::try_from(v) {
                    Ok(m) if (1..=METRIC_MAX).contains(&v) => Ok(Metric(m)),
                    _ => Err(E::custom(format!(
                        "Metric {v} is out of range (1-{METRIC_MAX})"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Metric, E> {
                Err(E::custom(format!(
                    "Metric {v} is out of range (1-{METRIC_MAX})"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Metric, E> {
                let n = v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| E::custom(format!("Metric {v:?} is not a number")))?;
                self.visit_u64(n)
            }
        }
        d.deserialize_any(V)
    }
}

/// `AutoMetric`: true/false (or their text).
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "true" => Ok(Flag(true)),
                    "false" => Ok(Flag(false)),
                    _ => Err(E::custom(format!("AutoMetric {v:?} is not true or false"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `State`: `ClusterNetworkState` as text, or its number.
fn state_text(t: Text) -> Option<String> {
    let s = t.0?;
    Some(match s.as_str() {
        "-1" => "Unknown".into(),
        "0" => "Unavailable".into(),
        "1" => "Down".into(),
        "2" => "Partitioned".into(),
        "3" => "Up".into(),
        _ => s,
    })
}

struct RawNet(ClusterNet);

impl<'de> Deserialize<'de> for RawNet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(NetVisitor)
    }
}

struct NetVisitor;

impl<'de> Visitor<'de> for NetVisitor {
    type Value = RawNet;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cluster network object (Name, Role, Metric, Address, AddressMask…)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNet, A::Error> {
        let (mut id, mut name, mut address, mut mask) = (None, None, None, None);
        let (mut role, mut metric, mut auto, mut state) = (None, None, None, None);
        // Ipv4Addresses, Ipv4PrefixLengths, Ipv6Addresses, Ipv6PrefixLengths.
        let mut lists: [Vec<String>; 4] = Default::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.to_ascii_lowercase().as_str() {
                "id" => id = map.next_value::<Text>()?.0,
                "name" => name = map.next_value::<Text>()?.0,
                "address" => address = map.next_value::<Text>()?.0,
                "addressmask" => mask = map.next_value::<Text>()?.0,
                "ipv4addresses" => lists[0] = map.next_value::<Texts>()?.0,
                "ipv4prefixlengths" => lists[1] = map.next_value::<Texts>()?.0,
                "ipv6addresses" => lists[2] = map.next_value::<Texts>()?.0,
                "ipv6prefixlengths" => lists[3] = map.next_value::<Texts>()?.0,
                "role" => role = Some(map.next_value::<Role>()?),
                "metric" => metric = Some(map.next_value::<Metric>()?.0),
                "autometric" => auto = map.next_value::<Option<Flag>>()?.map(|f| f.0),
                "state" => state = state_text(map.next_value::<Text>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let name = name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| de::Error::custom("a network object has no Name"))?;
        let missing = |what: &str| de::Error::custom(format!("network {name:?} has no {what}"));
        let role = role.ok_or_else(|| missing("Role"))?;
        let metric = metric.ok_or_else(|| missing("Metric"))?;
        let prefixes = prefixes(address, mask, &lists)
            .map_err(|m| de::Error::custom(format!("network {name:?}: {m}")))?;
        Ok(RawNet(ClusterNet {
            id,
            name,
            prefixes,
            export: Export::Json,
            role,
            metric,
            auto_metric: auto,
            state,
            origin: String::new(),
        }))
    }
}

/// A network's prefixes: `Address`/`AddressMask` (IPv4 only; empty on an
/// IPv6-only network), then `Ipv4Addresses` and `Ipv6Addresses` with their
/// prefix lengths, each prefix once.
fn prefixes(
    address: Option<String>,
    mask: Option<String>,
    lists: &[Vec<String>; 4],
) -> Result<Vec<IpNet>, String> {
    let mut out: Vec<IpNet> = inputs::prefix_from(
        address.as_deref().unwrap_or(""),
        mask.as_deref().unwrap_or(""),
    )?
    .into_iter()
    .collect();
    inputs::add_prefixes("Ipv4", &lists[0], &lists[1], &mut out)?;
    inputs::add_prefixes("Ipv6", &lists[2], &lists[3], &mut out)?;
    Ok(out)
}

/// A list of texts: an array (`ConvertTo-Json` of a collection), one value,
/// or null. A .NET type name in its place (`System.String[]`: the list
/// was deeper than `ConvertTo-Json -Depth`) is read as no value.
struct Texts(Vec<String>);

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Texts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Texts, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element::<Text>()? {
                    out.extend(t.0);
                }
                Ok(Texts(out))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Texts, E> {
                let typename = v.starts_with("System.");
                Ok(Texts(
                    (!typename && !v.trim().is_empty())
                        .then(|| v.to_string())
                        .into_iter()
                        .collect(),
                ))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Texts, E> {
                Ok(Texts(vec![v.to_string()]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Texts, E> {
                Ok(Texts(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

struct RawIface(NodeIface);

impl<'de> Deserialize<'de> for RawIface {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawIface;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a network interface object (Node, Network, Adapter, Address)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawIface, A::Error> {
                let (mut node, mut network, mut adapter, mut address) = (None, None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    let v = map.next_value::<Text>()?.0.filter(|s| !s.trim().is_empty());
                    match key.to_ascii_lowercase().as_str() {
                        "node" => node = v,
                        "network" => network = v,
                        "adapter" => adapter = v,
                        "address" => address = v,
                        _ => {}
                    }
                }
                let need = |v: Option<String>, what: &str| {
                    v.ok_or_else(|| de::Error::custom(format!("an interface object has no {what}")))
                };
                let (node, network) = (need(node, "Node")?, need(network, "Network")?);
                let address = address
                    .map(|a| a.trim().parse().map_err(|_| de::Error::custom(format!("interface of {node} on {network:?}: Address {a:?} is not an IP address"))))
                    .transpose()?;
                Ok(RawIface(NodeIface {
                    adapter: need(adapter, "Adapter")?,
                    node,
                    network,
                    address,
                }))
            }
        }
        d.deserialize_map(V)
    }
}

struct RawParam {
    name: String,
    value: Option<String>,
}

impl<'de> Deserialize<'de> for RawParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawParam;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cluster parameter object (Name, Value)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawParam, A::Error> {
                let (mut name, mut value) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.to_ascii_lowercase().as_str() {
                        "name" => name = map.next_value::<Text>()?.0,
                        "value" => value = map.next_value::<Text>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let name =
                    name.ok_or_else(|| de::Error::custom("a parameter object has no Name"))?;
                Ok(RawParam { name, value })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source {
            path: "n.json".into(),
            text: text.into(),
        }
    }

    #[test]
    fn one_object_or_many() {
        let one = networks(&src(r#"{"Name":"A","Role":"Cluster","Metric":800,"AutoMetric":false,"Address":"10.0.0.0","AddressMask":"255.0.0.0","State":3,"Cluster":"c"}"#)).unwrap();
        assert_eq!(one[0].role.number(), 1);
        assert_eq!(one[0].prefixes, ["10.0.0.0/8".parse::<IpNet>().unwrap()]);
        assert_eq!(
            (one[0].auto_metric, one[0].state.as_deref()),
            (Some(false), Some("Up"))
        );
        let many = networks(&src("[\r\n{\"name\":\"A\",\"role\":0,\"metric\":1}\r\n,{\"Name\":\"B\",\"Role\":3,\"Metric\":\"2\"}]")).unwrap();
        assert_eq!(many.len(), 2);
        assert!(many[1].prefixes.is_empty());
    }

    #[test]
    fn every_prefix_of_a_full_export() {
        let p = |text: &str| -> Result<Vec<String>, String> {
            networks(&src(text))
                .map(|n| n[0].prefixes.iter().map(ToString::to_string).collect())
                .map_err(|e| e.to_string())
        };
        let base = r#""Name":"A","Role":1,"Metric":1"#;
        assert_eq!(
            p(&format!(
                r#"{{{base},"Address":"10.1.0.0","AddressMask":"255.255.0.0","Ipv4Addresses":["10.1.0.0","10.2.0.0"],"Ipv4PrefixLengths":[16,"24"],"Ipv6Addresses":["fd00:20::"],"Ipv6PrefixLengths":["64"]}}"#
            )),
            Ok(vec![
                "10.1.0.0/16".into(),
                "10.2.0.0/24".into(),
                "fd00:20::/64".into()
            ])
        );
        // IPv6 only: empty Address, empty IPv4 lists.
        assert_eq!(
            p(&format!(
                r#"{{{base},"Address":"","AddressMask":"","Ipv4Addresses":[],"Ipv4PrefixLengths":[],"Ipv6Addresses":"fd00:20::","Ipv6PrefixLengths":64}}"#
            )),
            Ok(vec!["fd00:20::/64".into()])
        );
        // Cut by ConvertTo-Json -Depth: a type name, read as nothing.
        assert_eq!(
            p(&format!(
                r#"{{{base},"Ipv6Addresses":"System.String[]","Ipv6PrefixLengths":"System.String[]"}}"#
            )),
            Ok(vec![])
        );
        assert_eq!(
            p(&format!("{{{base},\n\"Ipv6Addresses\":[\"fd00:20::\",\"fd00:21::\"],\"Ipv6PrefixLengths\":[64]}}")),
            Err("n.json:2:67: network \"A\": 2 Ipv6Addresses but 1 Ipv6PrefixLengths".into())
        );
        assert_eq!(
            p(&format!(r#"{{{base},"Ipv6Addresses":["fd00:20::1"],"Ipv6PrefixLengths":[64]}}"#)),
            Err("n.json:1:88: network \"A\": Address fd00:20::1 has host bits set for mask 64 (the network is fd00:20::/64)".into())
        );
    }

    #[test]
    fn errors_are_located() {
        let e = networks(&src(
            "[\n {\"Name\":\"A\",\n  \"Role\": 7,\n  \"Metric\": 1}]",
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "n.json:3:11: Role 7 is out of range (0 None, 1 Cluster, 2 Client, 3 ClusterAndClient)"
        );
        let e = networks(&src(
            "[\n {\"Name\":\"A\",\"Role\":1,\"Metric\":1,\n  \"Address\":\"10.1.0.0\"\n }\n]",
        ))
        .unwrap_err();
        assert_eq!(e.to_string(), "n.json:4:2: network \"A\": Address 10.1.0.0 has no AddressMask: a network needs its mask");
        let e = networks(&src("[{\"Name\":\"A\",\"Role\":1,")).unwrap_err();
        assert!(
            e.to_string().starts_with("n.json:1:22: EOF while parsing"),
            "{e}"
        );
        let e = networks(&src("[{\"Name\":\"A\",\"Metric\":1}]")).unwrap_err();
        assert!(e.to_string().contains("network \"A\" has no Role"), "{e}");
    }

    #[test]
    fn migration_settings() {
        let m = migration(&src(r#"[{"Name":"MigrationExcludeNetworks","Value":"{a};b"},{"Name":"MigrationNetworkOrder","Value":""},{"Name":"Other","Value":1}]"#)).unwrap();
        assert_eq!(m.exclude, ["a", "b"]);
        assert!(m.order.is_empty());
        assert!(migration(&src(r#"{"Name":"X","Value":"a"}"#)).is_err());
    }
}
