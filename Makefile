# lanecheck: the two commands of the README, plus bench.
#   make demo   installs what is missing, builds release, audits a bundled capture
#   make test   installs what the tests need, runs every test (conformance included)
#   make bench  throughput tables (needs ~10 GiB free disk for bench-data/; RUNS, BENCH_SETS, BENCH_DATA)
#   make soak   the daemon for SOAK_MINUTES (30) under mixed traffic and a flood: RSS slope
#   make man    regenerates docs/man/ from the flags (a test fails while it is stale)
#   make fuzz   coverage-guided fuzzing, 10 min in all (FUZZ_SECONDS per target,
#               FUZZ_RUNS executions; see fuzz/README.md); not part of `make test`

SHELL := /bin/bash
CARGO ?= cargo
# libpcap-dev: live capture (pcap crate); iproute2, python3, util-linux (setpriv): namespace tests;
# prometheus: promtool for metrics/rules checks; systemd: systemd-analyze verify of the unit;
# tshark: ground truth for the dissectors (DNS TTLs, frame → flow) in the conformance tests;
# zsh, fish: the completion scripts parse and complete; groff-base: the man pages render cleanly;
# chromium: the HTML reports load headless with no console error and no request (tests/html.rs);
# parallel: the GNU parallel example of docs/deployment.md runs as written (tests/merge.rs).
# tcpdump, iperf3, ethtool, tcpreplay: bench baselines and traffic; libndpi-bin (ndpiReader),
# nfdump (nfpcapd): the peer readers of the file bench.
DEPS_BUILD := libpcap-dev pkg-config
DEPS_TEST := $(DEPS_BUILD) iproute2 python3 util-linux prometheus systemd tshark zsh fish groff-base chromium parallel
DEPS_BENCH := $(DEPS_BUILD) tcpdump time iperf3 ethtool iproute2 python3 tcpreplay libndpi-bin nfdump
# g++: libfuzzer-sys compiles libFuzzer (C++) for the fuzz targets.
DEPS_FUZZ := $(DEPS_BUILD) g++

.PHONY: demo test bench soak man fuzz deps-build deps-test deps-bench deps-fuzz lint fmt

deps-build:
	@scripts/deps.sh $(DEPS_BUILD)

deps-test:
	@scripts/deps.sh $(DEPS_TEST)

deps-bench:
	@scripts/deps.sh $(DEPS_BENCH)

deps-fuzz:
	@scripts/deps.sh $(DEPS_FUZZ)

demo: deps-build
	$(CARGO) build --release --locked
	@echo
	@echo '$$ lanecheck audit --policy policies/dpm.toml fixtures/dpm_backup_lan.pcapng'
	@./target/release/lanecheck audit --policy policies/dpm.toml fixtures/dpm_backup_lan.pcapng
	@echo
	@echo '$$ lanecheck audit --policy policies/dpm.toml fixtures/dpm_primary_lan.pcapng'
	@./target/release/lanecheck audit --policy policies/dpm.toml fixtures/dpm_primary_lan.pcapng; \
	  code=$$?; echo; echo "exit code $$code (1 = a violation was proven: backup data on the primary LAN)"; \
	  [ $$code -eq 1 ]

test: deps-test
	scripts/test-summary.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

man:
	$(CARGO) run --quiet --locked -- man --out docs/man

bench: deps-bench
	scripts/bench.sh

soak: deps-bench
	$(CARGO) build --release --locked
	scripts/bench-watch.sh soak

# Targets run one after another, one process each; cargo-fuzz is installed
# when missing.
fuzz: deps-fuzz
	scripts/fuzz.sh $(FUZZ_TARGETS)
