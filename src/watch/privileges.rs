//! Dropping root after the capture handles are open: switch to an
//! unprivileged user and keep only CAP_NET_RAW and CAP_NET_ADMIN, which
//! reopening a lost interface needs. Capabilities are per thread, so this
//! runs before any other thread starts.

use anyhow::{bail, Context, Result};
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{setgroups, setresgid, setresuid, Uid, User};

/// Becomes `name`, keeping the two capture capabilities. No-op when not root.
pub fn drop_to(name: &str) -> Result<()> {
    if !Uid::effective().is_root() {
        return Ok(());
    }
    let user = User::from_name(name)
        .with_context(|| format!("--user {name}"))?
        .with_context(|| format!("--user {name}: no such user"))?;
    if user.uid.is_root() {
        log::warn!("--user {name} is root: keeping full privileges");
        return Ok(());
    }
    let keep: CapsHashSet = [Capability::CAP_NET_RAW, Capability::CAP_NET_ADMIN]
        .into_iter()
        .collect();
    caps::securebits::set_keepcaps(true).context("keeping capabilities across setuid")?;
    setgroups(&[]).context("clearing supplementary groups")?;
    setresgid(user.gid, user.gid, user.gid).context("setgid")?;
    setresuid(user.uid, user.uid, user.uid).context("setuid")?;
    caps::set(None, CapSet::Permitted, &keep).context("restricting permitted capabilities")?;
    caps::set(None, CapSet::Effective, &keep).context("raising the capture capabilities")?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .context("clearing inheritable capabilities")?;
    caps::securebits::set_keepcaps(false).context("resetting keepcaps")?;
    if Uid::effective().is_root() {
        bail!("still root after dropping privileges");
    }
    log::info!("running as {name} with CAP_NET_RAW and CAP_NET_ADMIN only");
    Ok(())
}
