//! All integration tests build into this one binary (ripgrep's layout):
//! they run the real `lanecheck` executable.

mod netns;
mod util;

mod audit;
mod conformance;
mod derive;
mod evidence;
mod flows;
mod packaging;
mod policy;
mod procedures;
mod scenarios;
mod verify;
mod watch;
mod windows;
