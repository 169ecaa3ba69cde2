#!/usr/bin/env bash
# synguard on a fleet, on one machine (run as root: `bash scripts/fleet.sh`):
# three victims, each with its own private firewalld, services, exporter and
# responder; one Prometheus; two Alertmanagers clustered over their real
# gossip; an attacker namespace that floods any victim (test/lab/fleet.sh,
# configs derived from deploy/fleet/; docs/fleet.md). It runs the fleet
# scenario of test/e2e (TestFleet), which builds the fleet through
# internal/lab and asserts each phase in Go. As deploy/fleet/ has it, every
# exporter and responder listens on its victim's own address and serves TLS
# requiring a client certificate (a throw-away PKI written at test time);
# Prometheus and each Alertmanager present their own:
#
#   0 tls        no client certificate, or one for a SAN no web config
#                allows: no HTTP answer; each port lets in exactly who must
#                (exporter: Prometheus; responder: Prometheus, the
#                Alertmanagers, webhooks with the token)
#   1 fleet      one /27 floods hosts 1 and 2: blocked on all hosts by the
#                fleet rule; reports the time from the flood crossing the
#                fleet threshold on the second host to the block in the
#                kernel of the last host (target: under 10 s)
#   2 host       a /27 floods the last host only: blocked there (host rule)
#                and nowhere else; the others got the alert and refused it
#                (other_host); then the same /27 floods hosts 1 and 2: the
#                fleet alert blocks it there, a duplicate on the last host
#   3 duplicates the Alertmanagers' gossip cut, so BOTH notify: every
#                responder counts duplicates and applies the block once
#   4 am-killed  the Alertmanager that notifies first SIGKILLed (by its PID):
#                a new /27 on hosts 1 and 2 is still blocked on all hosts
#
# Everything runs in namespaces made for it; the host's firewall and system
# bus are never touched; every process is stopped by its recorded PID and
# every namespace deleted at the end. Exit 0: all passed (or skipped, saying
# why, when not root or a tool is missing: bash scripts/install-deps.sh
# installs them); non-zero: a check failed.
#
# Environment: FLEET_HOSTS (3, at least 3), FLEET_RATE SYN/s per flood (300).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -count=1 -v -timeout 15m -run '^TestFleet$' ./test/e2e/
