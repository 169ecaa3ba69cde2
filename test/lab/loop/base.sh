# shellcheck shell=bash
# test/lab/loop.sh, stage "base": paths and parameters, logging, bounded
# waits, processes started and stopped by recorded PID, the build and the
# state directory. Sourced by test/lab/loop.sh; defines functions only.

loop__name() { printf '%s' "${LOOP_NAME:-sgl}"; }

loop__state() { printf '%s' "${LOOP_STATE:-/tmp/$(loop__name)}"; }

loop__repo() { printf '%s' "${LOOP_REPO:-$(cd "$LOOP__DIR/../.." && pwd)}"; }

loop__bin() { printf '%s' "${LOOP_BIN:-$(loop__repo)/bin}"; }

# loop_binary NAME: bin/synguard-NAME, or bin/NAME as `go build -o bin/ ./cmd/...` names it.
loop_binary() {
  if [ -x "$(loop__bin)/synguard-$1" ]; then printf '%s' "$(loop__bin)/synguard-$1"; else printf '%s' "$(loop__bin)/$1"; fi
}

loop__seconds() { printf '%s' "${LOOP_SECONDS:-1800}"; }

loop_log() { printf '[%s] loop(%s): %s\n' "$(date +%T.%3N)" "$(loop__name)" "$*" >&2; }

loop__now_ms() { fw__now_ms; }

# loop_wait_until TIMEOUT_S CMD...: poll CMD every 50 ms until it succeeds,
# at most TIMEOUT_S seconds (firewalld.sh's fw_wait_until).
loop_wait_until() { fw_wait_until "$@"; }

# loop_in NS CMD...: run CMD in namespace NS.
loop_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# loop__spawn NAME NS CMD...: start CMD in the background in NS (root ns when
# NS is empty), output to logs/NAME.log, PID to pids/NAME.pid. ip netns exec
# execs CMD (no fork), so the recorded PID is CMD's own.
loop__spawn() {
  local name=$1 ns=$2 st pid
  shift 2
  st=$(loop__state)
  mkdir -p "$st/pids" "$st/logs"
  if [ -n "$ns" ]; then
    ip netns exec "$ns" "$@" >>"$st/logs/$name.log" 2>&1 </dev/null &
  else
    "$@" >>"$st/logs/$name.log" 2>&1 </dev/null &
  fi
  pid=$!
  disown "$pid" 2>/dev/null || true
  echo "$pid" >"$st/pids/$name.pid"
  echo "$name" >>"$st/pids/order"
}

# loop_pid NAME: the recorded PID of NAME if it is alive.
loop_pid() {
  local f pid
  f="$(loop__state)/pids/$1.pid"
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  printf '%s' "$pid"
}

# loop_kill NAME [SIGNAL] [TIMEOUT_S]: signal NAME's recorded PID, wait
# (bounded), SIGKILL if it outlives the wait, forget the PID.
loop_kill() {
  local name=$1 sig=${2:-TERM} timeout=${3:-10} f pid
  f="$(loop__state)/pids/$name.pid"
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    # A process that leads its own group (the flood wrapper) takes its
    # children with it.
    local target=$pid
    [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ] && target=-$pid
    kill "-$sig" -- "$target" 2>/dev/null || true
    if ! loop_wait_until "$timeout" fw__dead "$pid"; then
      kill -KILL -- "$target" 2>/dev/null || true
      loop_wait_until 5 fw__dead "$pid" || true
    fi
  fi
  rm -f "$f"
}

# loop_build: the synguard binaries (make build) and the lab's own tools
# (test/lab/cmd/*, into $LOOP_BIN/lab/). LOOP_PREBUILT=DIR takes
# synguard-exporter and synguard-responder from DIR where they are there.
loop_build() {
  local repo bin
  repo=$(loop__repo)
  bin=$(loop__bin)
  if [ -n "${LOOP_PREBUILT:-}" ]; then
    # synguard-NAME from LOOP_PREBUILT where it is there (a binary built
    # from another commit, for comparing or while the tree does not
    # build), the rest built from the tree.
    local b
    mkdir -p "$bin"
    for b in exporter responder; do
      if [ -x "$LOOP_PREBUILT/synguard-$b" ]; then cp "$LOOP_PREBUILT/synguard-$b" "$bin/" || return 1
      else (cd "$repo" && go build -o "$bin/synguard-$b" "./cmd/$b") || return 1; fi
    done
  else
    (cd "$repo" && make -s build BIN="$bin") || return 1
  fi
  (cd "$repo" && go build -o "$bin/lab/" ./test/lab/cmd/services ./test/lab/cmd/nsforward \
    ./test/lab/cmd/labconfig ./test/lab/cmd/control ./test/lab/cmd/synflood) || return 1
}

# loop_init: a fresh state directory (refuses one it did not make).
loop_init() {
  local st
  st=$(loop__state)
  case "$st" in /|/run|/run/*|/var/log|/var/log/*|"") loop_log "unsafe LOOP_STATE=$st"; return 1 ;; esac
  if [ -e "$st" ] && [ ! -e "$st/.sgl-loop" ]; then
    loop_log "refusing to reuse $st: not a loop state dir"
    return 1
  fi
  if [ -s "$st/netns.list" ]; then
    loop_log "$st lists live namespaces; loop_down first"
    return 1
  fi
  rm -rf "$st"
  mkdir -p "$st/pids" "$st/logs"
  : >"$st/.sgl-loop"
}
