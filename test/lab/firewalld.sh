# shellcheck shell=bash
# A real firewalld on a private D-Bus inside a network namespace, for tests,
# benchmarks and the demo. Source this file; it defines functions only.
#
# Safety model (see ../../shared/reference/firewalld-lab/README.md for the
# measurements behind it):
#  * firewalld runs only inside the network namespace $FW_NS, so its nftables
#    rules exist there alone; the root namespace's firewall is never touched.
#  * It talks to a private dbus-daemon (own config, no service activation, a
#    unix *path* socket in $FW_STATE), never to the host bus. Root and one
#    unprivileged user ($FW_HOSTILE_USER) may connect; that user may only
#    send signals (the forged-signal tests) and ask the bus about names.
#    Every client gets DBUS_SYSTEM_BUS_ADDRESS=$(fw_bus_address).
#  * dbus-daemon and firewalld share a private mount namespace with tmpfs over
#    /run and /var/log; firewalld reads a copy of /etc/firewalld in
#    $FW_STATE/etc (nftables backend), so the host's /etc/firewalld,
#    /run/firewalld and log files stay as they are.
#  * Processes are stopped by the PIDs recorded in $FW_STATE, never by name;
#    every wait is bounded.
#
# Parameters (environment, read at call time so that several instances can
# coexist in one shell by changing them):
#   FW_NS       network namespace firewalld runs in (created if missing; only
#               deleted by fw_down if fw_netns_up created it)
#   FW_STATE    state directory (bus socket, config copy, PID files, logs);
#               must not be under /run or /var/log, which are hidden inside
#   FW_BACKEND  FirewallBackend for the copy of firewalld.conf (nftables)
#   FW_START_TIMEOUT  seconds to wait for firewalld to be running (60)
#   FW_HOSTILE_USER   the one unprivileged user the bus lets in, to send
#               forged signals as a local user would (nobody)
#
# Typical use:
#   . test/lab/firewalld.sh
#   export FW_NS=sgf-$$ FW_STATE=/tmp/sgf-$$
#   fw_up                       # netns + bus + firewalld, waits for "running"
#   fw_cmd --zone=drop --add-source=198.51.100.32/27
#   export DBUS_SYSTEM_BUS_ADDRESS=$(fw_bus_address)   # for Go clients
#   fw_crash_restart            # SIGKILL, then start again
#   fw_down                     # stop everything recorded, delete the netns

fw__ns() { printf '%s' "${FW_NS:-sgf-fw}"; }
fw__state() { printf '%s' "${FW_STATE:-/tmp/sgf-fw}"; }

# fw_log MSG...: a timestamped line on stderr.
fw_log() { printf '[%s] firewalld-lab(%s): %s\n' "$(date +%T.%3N)" "$(fw__ns)" "$*" >&2; }

fw__now_ms() { date +%s%3N; }

# fw_wait_until TIMEOUT_S CMD...: run CMD every 50 ms until it succeeds, at
# most TIMEOUT_S seconds; returns 1 on timeout.
fw_wait_until() {
  local timeout=$1 deadline
  shift
  deadline=$(( $(fw__now_ms) + timeout * 1000 ))
  while (( $(fw__now_ms) < deadline )); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

# fw_bus_address: the D-Bus address of the private bus.
fw_bus_address() { printf 'unix:path=%s/bus.sock' "$(fw__state)"; }

# fw_cmd ARGS...: firewall-cmd against the private bus, inside the namespace.
fw_cmd() {
  DBUS_SYSTEM_BUS_ADDRESS="$(fw_bus_address)" ip netns exec "$(fw__ns)" firewall-cmd "$@"
}

# fw_nft ARGS...: nft inside the namespace (to inspect firewalld's rules).
fw_nft() { ip netns exec "$(fw__ns)" nft "$@"; }

# fw_running: true when firewall-cmd --state answers "running".
fw_running() { [ "$(fw_cmd --state 2>/dev/null)" = running ]; }

# fw__pid NAME: the recorded PID of NAME (dbus, firewalld), if alive.
fw__pid() {
  local f pid
  f="$(fw__state)/$1.pid"
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  printf '%s' "$pid"
}

# fw_firewalld_pid / fw_dbus_pid: print the recorded PID if the process lives.
fw_firewalld_pid() { fw__pid firewalld; }
fw_dbus_pid() { fw__pid dbus; }

# fw_prepare: a fresh state dir with a copy of /etc/firewalld (backend set)
# and the private bus's config. Refuses to wipe a directory it did not make.
fw_prepare() {
  local st backend hostile
  st=$(fw__state)
  backend=${FW_BACKEND:-nftables}
  hostile=${FW_HOSTILE_USER:-nobody}
  case "$st" in
    /run|/run/*|/var/log|/var/log/*|/|"") fw_log "FW_STATE=$st is hidden inside the lab or unsafe"; return 1 ;;
  esac
  if [ -e "$st" ] && [ ! -e "$st/.sgf-firewalld-lab" ]; then
    fw_log "refusing to reuse $st: not a firewalld-lab state dir"
    return 1
  fi
  if fw__pid firewalld >/dev/null || fw__pid dbus >/dev/null; then
    fw_log "$st has live processes; fw_down first"
    return 1
  fi
  rm -rf "$st"
  mkdir -p "$st/etc"
  : >"$st/.sgf-firewalld-lab"
  cp -a /etc/firewalld/. "$st/etc/"
  sed -i "s/^FirewallBackend=.*/FirewallBackend=$backend/" "$st/etc/firewalld.conf"
  cat >"$st/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <!-- private "system" bus of a synguard firewalld lab: no includes, no
       service activation, EXTERNAL auth over a path socket; root, and one
       unprivileged local user ($hostile) with what Debian's system bus
       gives any local user that matters here: it may send signals to
       anyone (straight to a connection, past its match rules) and ask the
       bus who owns a name, and nothing else: no names of its own, no
       method calls to firewalld. -->
  <type>system</type>
  <listen>unix:path=$st/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow user="$hostile"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
  <policy user="$hostile">
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="method_call" send_destination="org.freedesktop.DBus"/>
    <allow send_type="signal"/>
  </policy>
</busconfig>
EOF
}

# fw_netns_up: create $FW_NS (lo up) unless it exists; remember if we made it.
fw_netns_up() {
  local ns
  ns=$(fw__ns)
  if ! ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    ip netns add "$ns" || return 1
    : >"$(fw__state)/netns.created"
  fi
  ip -n "$ns" link set lo up
}

# fw_bus_start: the private dbus-daemon in a private mount namespace (tmpfs
# /run and /var/log) inside $FW_NS; firewalld later joins both namespaces.
fw_bus_start() {
  local st pid
  st=$(fw__state)
  # unshare and ip netns exec exec (no fork), so $! is dbus-daemon itself.
  # shellcheck disable=SC2016
  ip netns exec "$(fw__ns)" unshare -m --propagation private -- bash -c '
      set -e
      mount -t tmpfs -o mode=755 sgf-fw-run /run
      mkdir -p /run/lock /run/firewalld /run/dbus
      mount -t tmpfs -o mode=755 sgf-fw-log /var/log
      exec dbus-daemon --config-file="$1/bus.conf" --nofork --nopidfile --nosyslog
    ' sgf-fw-bus "$st" >"$st/dbus.log" 2>&1 </dev/null &
  pid=$!
  disown "$pid" 2>/dev/null || true   # no job-control notice when it is stopped
  echo "$pid" >"$st/dbus.pid"
  if ! fw_wait_until 10 test -S "$st/bus.sock"; then
    fw_log "private dbus-daemon did not come up: $(cat "$st/dbus.log")"
    return 1
  fi
}

# fw_start [FIREWALLD ARGS...]: start firewalld in the bus's mount and network
# namespaces and wait (bounded) until it is running. Sets FW_STARTUP_MS.
fw_start() {
  local st dbus_pid t0
  st=$(fw__state)
  dbus_pid=$(fw__pid dbus) || { fw_log "no private dbus-daemon; fw_bus_start first"; return 1; }
  if fw__pid firewalld >/dev/null; then fw_log "firewalld already running"; return 1; fi
  t0=$(fw__now_ms)
  # nsenter without -p does not fork, so $! is firewalld itself.
  DBUS_SYSTEM_BUS_ADDRESS="$(fw_bus_address)" nsenter -t "$dbus_pid" -m -n -- \
    firewalld --nofork --nopid --system-config "$st/etc" --log-target console "$@" \
    >>"$st/firewalld.log" 2>&1 </dev/null &
  echo $! >"$st/firewalld.pid"
  disown $! 2>/dev/null || true
  if ! fw_wait_until "${FW_START_TIMEOUT:-60}" fw_running; then
    tail -30 "$st/firewalld.log" >&2
    fw_log "firewalld not running after ${FW_START_TIMEOUT:-60}s"
    return 1
  fi
  FW_STARTUP_MS=$(( $(fw__now_ms) - t0 ))
  fw_log "firewalld running after ${FW_STARTUP_MS} ms (pid $(cat "$st/firewalld.pid"))"
}

# fw__kill NAME SIGNAL TIMEOUT_S: signal the recorded PID, wait until it is
# gone (bounded), SIGKILL if it outlives the wait, forget the PID.
fw__kill() {
  local name=$1 sig=$2 timeout=$3 f pid
  f="$(fw__state)/$name.pid"
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    if ! fw_wait_until "$timeout" fw__dead "$pid"; then
      fw_log "$name (pid $pid) outlived ${timeout}s after SIG$sig; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      fw_wait_until 5 fw__dead "$pid" || true
    fi
  fi
  rm -f "$f"
}
fw__dead() { ! kill -0 "$1" 2>/dev/null; }

# fw_stop: clean stop (SIGTERM; firewalld's CleanupOnExit removes its rules).
fw_stop() { fw__kill firewalld TERM 20; }

# fw_crash: SIGKILL firewalld: no cleanup runs, its nft rules stay behind.
fw_crash() { fw__kill firewalld KILL 10; }

# fw_restart [ARGS...]: clean stop, then start.
fw_restart() { fw_stop && fw_start "$@"; }

# fw_crash_restart [ARGS...]: SIGKILL, then start (stale kernel rules stay).
fw_crash_restart() { fw_crash && fw_start "$@"; }

# fw_reload / fw_complete_reload: firewall-cmd --reload / --complete-reload.
fw_reload() { fw_cmd --reload >/dev/null; }
fw_complete_reload() { fw_cmd --complete-reload >/dev/null; }

# fw_up [FIREWALLD ARGS...]: prepare, namespace, bus, firewalld.
fw_up() {
  fw_prepare && fw_netns_up && fw_bus_start && fw_start "$@"
}

# fw_down: stop firewalld and the bus by their PIDs and delete the namespace
# if fw_netns_up created it. Keeps $FW_STATE (logs) for inspection.
fw_down() {
  local st
  st=$(fw__state)
  fw_stop
  fw__kill dbus TERM 5
  if [ -e "$st/netns.created" ]; then
    ip netns del "$(fw__ns)" 2>/dev/null || true
    rm -f "$st/netns.created"
  fi
}

# fw_root_nft_empty: true when the root namespace has no nft tables (the
# safety check every test ends with).
fw_root_nft_empty() { [ -z "$(nft list tables 2>/dev/null)" ]; }
