//! All integration tests build into this one binary (ripgrep's layout):
//! they run the real `lanecheck` executable.

mod netns;
mod util;

mod audit;
mod conformance;
mod evidence;
mod flows;
mod packaging;
mod policy;
mod procedures;
mod scenarios;
mod tunnels;
mod verify;
mod watch;
