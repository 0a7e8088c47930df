//! All integration tests build into this one binary (ripgrep's layout):
//! they run the real `lanecheck` executable.

mod netns;
mod util;

mod audit;
mod browser;
mod conformance;
mod conformance_smb;
mod derive;
mod evidence;
mod flows;
mod fragments;
mod html;
mod manual;
mod merge;
mod packaging;
mod policy;
mod procedures;
mod reorder;
mod report;
mod scenarios;
mod smb_trees;
mod snaplen;
mod terminal;
mod threads;
mod tunnels;
mod verify;
mod violations_pcap;
mod watch;
mod watch_flows;
mod windows;
