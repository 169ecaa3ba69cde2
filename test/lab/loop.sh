# shellcheck shell=bash
# The whole synguard loop between network namespaces, for the demo, the
# end-to-end test, the latency benchmark and the fleet scenario. Source this
# file; it defines functions only. It is cut by stage, one file each under
# test/lab/loop/ (base, namespaces, firewalld, services, synguard,
# monitoring, flood), and sources firewalld.sh beside it. Go tests drive it
# through internal/lab (lab.StartLoop, lab.StartFleet).
#
#   netns $LOOP_NAME-att (attacker + control host)
#     av<i> 192.0.2.(8i+2)  flooder, spoofing the /27s of $LOOP_FLOOD_PREFIXES
#           192.0.2.(8i+3)  control host: an ordinary SMTP client
#        |  veth
#   netns $LOOP_NAME-v<i> (victim i)                                    i = 1, 2, ...
#     va<i> 192.0.2.(8i+1)  zone public: smtp :25, pop3 :110, http :80, ftp :21 (lab services)
#     vm<i> 203.0.113.(8i+1) zone trusted: synguard-exporter :9817, synguard-responder :9818
#     a private firewalld on a private D-Bus (test/lab/firewalld.sh)
#        |  veth
#   netns $LOOP_NAME-mon (monitoring)
#     mv<i> 203.0.113.(8i+2)  Prometheus 127.0.0.1:9090, Alertmanager 127.0.0.1:9093
#
# Nothing is added to the root namespace but, with loop_forward_up, loopback
# listeners (nsforward) that lead into the lab. No default routes: no packet
# can leave the lab. The attacker drops (nft, prerouting, raw) every packet
# sent to the spoofed ranges, so nobody answers the victim's SYN-ACKs and each
# SYN leaves one socket in SYN_RECV until tcp_synack_retries gives up.
#
# Parameters (environment; defaults in brackets):
#   LOOP_NAME      name prefix of namespaces and interfaces' lab [sgl]
#   LOOP_STATE     state directory: configs, logs, PIDs [/tmp/$LOOP_NAME]
#   LOOP_REPO      repository root [two levels above this file]
#   LOOP_BIN       built binaries [$LOOP_REPO/bin]
#   LOOP_PREBUILT  a directory of already built synguard-exporter and/or
#                  synguard-responder that loop_build copies instead of
#                  building them (e.g. from another commit) []
#   LOOP_FLOOD_PREFIXES  the attacking /27s ["198.51.100.32/27 198.51.100.96/27"]
#   LOOP_FLOOD_RATE      SYNs per second per prefix [1000]
#   LOOP_BACKLOG   victim listen backlog (somaxconn) [256: about 128 sockets
#                  per flooding /27, well above the block rule's 50]
#   LOOP_SYNACK_RETRIES  victim tcp_synack_retries [2: sockets expire in ~7 s]
#   LOOP_BLOCK_DURATION  responder's first block duration [10m]
#   LOOP_BLOCK_MAX       responder's longest block [24h]
#   LOOP_PROM_PORT / LOOP_AM_PORT / LOOP_RESP_PORT  root-ns loopback ports of
#                  loop_forward_up [29090 / 29093 / 29818]
#   LOOP_SECONDS   every long-running process exits by itself after this [1800]
#   LOOP_ORIGIN    1: the exporter and responder read the lab's own AS and
#                  country databases (labconfig origin) [1]


LOOP__DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=firewalld.sh
. "$LOOP__DIR/firewalld.sh"
# shellcheck source=loop/base.sh
. "$LOOP__DIR/loop/base.sh"
# shellcheck source=loop/namespaces.sh
. "$LOOP__DIR/loop/namespaces.sh"
# shellcheck source=loop/firewalld.sh
. "$LOOP__DIR/loop/firewalld.sh"
# shellcheck source=loop/services.sh
. "$LOOP__DIR/loop/services.sh"
# shellcheck source=loop/synguard.sh
. "$LOOP__DIR/loop/synguard.sh"
# shellcheck source=loop/monitoring.sh
. "$LOOP__DIR/loop/monitoring.sh"
# shellcheck source=loop/flood.sh
. "$LOOP__DIR/loop/flood.sh"
