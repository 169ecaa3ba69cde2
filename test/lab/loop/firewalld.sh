# shellcheck shell=bash
# test/lab/loop.sh, stage "firewalld": each victim's private firewalld on
# its private D-Bus (over test/lab/firewalld.sh) and what it drops. Sourced
# by test/lab/loop.sh; defines functions only.

# loop_fw_env I: point firewalld.sh at victim I (FW_NS, FW_STATE).
loop_fw_env() {
  FW_NS=$(loop_victim_ns "$1")
  FW_STATE="$(loop__state)/fw$1"
  export FW_NS FW_STATE
}

# loop_victim_bus I: victim I's private D-Bus address.
loop_victim_bus() { (loop_fw_env "$1"; fw_bus_address); }

# loop_victim_fw_up I: victim I's private firewalld; services open in the
# public zone (the attackers' side), the management link trusted.
loop_victim_fw_up() {
  local i=$1 s
  loop_fw_env "$i"
  fw_prepare && fw_bus_start && fw_start || return 1
  for s in smtp pop3 http ftp; do
    fw_cmd --permanent --zone=public --add-service="$s" >/dev/null || return 1
  done
  fw_cmd --permanent --zone=trusted --add-interface="vm$i" >/dev/null || return 1
  fw_cmd --permanent --zone=public --add-interface="va$i" >/dev/null || return 1
  fw_cmd --reload >/dev/null || return 1
}

# loop_fw_drop_sources I: the sources in victim I's drop zone (runtime).
loop_fw_drop_sources() { loop_fw_env "$1"; fw_cmd --zone=drop --list-sources; }

# loop_fw_blocked I: what victim I's firewalld drops, one prefix a line: the
# drop zone's sources, with each ipset source replaced by the set's entries
# (the responder's ipset mode), as firewalld itself reports them.
loop_fw_blocked() {
  local s
  loop_fw_env "$1"
  for s in $(fw_cmd --zone=drop --list-sources); do
    case "$s" in
      ipset:*) fw_cmd --ipset="${s#ipset:}" --get-entries ;;
      *) printf '%s\n' "$s" ;;
    esac
  done
}
