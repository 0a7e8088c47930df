//! Evidence and learned endpoints as JSON objects (docs/json.md).

use analyzer::evidence::dns::{rcode_name, type_name};
use analyzer::evidence::learned::Endpoint;
use analyzer::evidence::probe::Evidence;
use analyzer::evidence::{interface_name, Dialect, Fact};
use serde_json::{json, Map, Value};

use super::{proto_name, rfc3339};

/// One piece of evidence: `kind`, `time`, then the fields of its kind.
pub fn evidence(e: &Evidence) -> Value {
    let mut o = Map::new();
    o.insert("kind".into(), json!(e.fact.kind()));
    o.insert("time".into(), json!(rfc3339(e.time)));
    let fields = fields(&e.fact);
    if let Value::Object(f) = fields {
        o.extend(f);
    }
    if let Some(via) = &e.via {
        o.insert("via".into(), json!(via));
    }
    Value::Object(o)
}

fn session(id: u64) -> String {
    format!("0x{id:016x}")
}

fn tree(id: u32) -> String {
    format!("0x{id:08x}")
}

fn fields(f: &Fact) -> Value {
    match f {
        Fact::SmbDialect(d) => match d {
            Dialect::Smb2(code) => {
                json!({"dialect": d.to_string(), "code": format!("0x{code:04x}")})
            }
            Dialect::Smb1(name) => json!({"dialect": name, "code": null, "smb1": true}),
        },
        Fact::SmbTreeConnect { path, session_id } => {
            json!({"path": path, "session_id": session(*session_id)})
        }
        Fact::SmbTreeConnectCut { path, session_id } => {
            json!({"path": path, "session_id": session(*session_id), "cut": true})
        }
        Fact::SmbTree {
            session_id,
            tree_id,
            path,
        } => json!({"path": path, "session_id": session(*session_id), "tree_id": tree(*tree_id)}),
        Fact::SmbTreeUse {
            session_id,
            tree_id,
            path,
        } => json!({"path": path, "session_id": session(*session_id), "tree_id": tree(*tree_id)}),
        Fact::SmbServer { guid } => json!({"server_guid": guid.to_string()}),
        Fact::SmbSession { session_id }
        | Fact::SmbEncrypted { session_id }
        | Fact::SmbSigned { session_id } => json!({"session_id": session(*session_id)}),
        Fact::RpcBind { interface, version } => json!({
            "interface": interface.to_string(),
            "version": version,
            "name": interface_name(interface),
        }),
        Fact::RpcEndpoint {
            interface,
            proto,
            port,
            addr,
        } => json!({
            "interface": interface.to_string(),
            "name": interface_name(interface),
            "proto": proto_name(*proto),
            "port": port,
            "address": addr.map(|a| a.to_string()),
        }),
        Fact::DcomBinding { tower, binding } => {
            json!({"tower": format!("0x{tower:04x}"), "binding": binding})
        }
        Fact::DnsQuery { name, qtype, id } | Fact::DnsCut { name, qtype, id } => {
            json!({"query": name, "qtype": type_name(*qtype), "id": id})
        }
        Fact::Dns(a) => json!({
            "id": a.id,
            "query": a.query.as_ref().map(|q| q.0.clone()),
            "qtype": a.query.as_ref().map(|q| type_name(q.1)),
            "rcode": rcode_name(a.rcode),
            "truncated": a.truncated,
            "answers": a.records.iter().map(|r| json!({
                "name": r.name,
                "type": type_name(r.rtype),
                "value": r.data.to_string(),
                "ttl": r.ttl,
            })).collect::<Vec<_>>(),
        }),
    }
}

/// One learned RPC endpoint.
pub fn endpoint(e: &Endpoint) -> Value {
    json!({
        "server": e.server.to_string(),
        "proto": proto_name(e.proto),
        "port": e.port,
        "via": e.via.as_str(),
        "interface": e.interface.map(|u| u.to_string()),
        "name": e.interface.as_ref().and_then(interface_name),
        "binding": e.binding,
        "announced_by": e.announced_by.to_string(),
        "learned_at": rfc3339(e.learned_at),
    })
}
