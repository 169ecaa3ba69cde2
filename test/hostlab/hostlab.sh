#!/usr/bin/env bash
# test/hostlab/hostlab.sh SUITE NEWDEBS OLDDEBS TOOLS: the packages on a
# real booted Debian host, as operators run them. Driven by hostlab_test.go
# (go test ./test/hostlab/), which builds the packages and the lab tools.
#
# A Debian SUITE rootfs made with mmdebstrap (cached as a tarball in
# $SGH_CACHE, default /var/cache/synguard-hostlab) is booted with
# systemd-nspawn (systemd as PID 1, its own system bus, polkitd,
# firewalld.service, Prometheus and Alertmanager as services) inside a
# network namespace this script creates, wired by a veth pair to an attacker
# namespace. nspawn shares this machine's kernel: the suites differ in user
# space only (firewalld, polkit, systemd, glibc). Then:
#   1. apt installs the OLDDEBS (built from the first commit with `make
#      package`): exporter started, responder installed but not started;
#   2. Prometheus and Alertmanager on the packages' example snippets, the
#      responder's config edited and the responder started;
#   3. a real SYN flood from the attacker is blocked end to end (the
#      responder as its own user, through polkit), and a second flood from
#      the prefix gets no SYN_RECV socket;
#   4. apt upgrades to NEWDEBS (--force-confold): the block, its expiry and
#      the edited configs stay;
#   5. the block survives systemctl restart firewalld, firewall-cmd --reload
#      and --complete-reload, systemctl restart synguard-responder, and a
#      reboot (nspawn exits: booted again), expiry kept;
#   6. apt remove leaves no entry in firewalld; purge removes state, users
#      and files.
# SGH_MODE=zone runs the responder in zone mode (default: the package's,
# ipset). Every wait is bounded; the script cleans up what it made by PID.
# SGH_MANUAL=1 follows docs/deploy.md's appendix (manual install from the
# release tarball in NEWDEBS, under /usr/local/bin) instead of the packages:
# no upgrade; its uninstall section instead of apt remove.
set -euo pipefail
suite=$1 newdebs=$2 olddebs=$3 tools=$4
manual=${SGH_MANUAL:-}
cache=${SGH_CACHE:-/var/cache/synguard-hostlab}
mode=${SGH_MODE:-}
name=sgh-${suite:0:4}-$$
ns=$name att=${name}a
work=/var/tmp/$name
root=$work/root
nspawn_pid=""
victim4=192.0.2.1 attacker4=192.0.2.2
flood_src=203.0.113.64/27
flood_prefix=203.0.113.64/27

log() { echo "hostlab[$suite] $(date +%T) $*"; }
fail() { echo "hostlab[$suite] FAIL: $*" >&2; dump; exit 1; }
cx() { nsenter -t "$(init_pid)" -a "$@"; }
init_pid() { pgrep -P "$nspawn_pid" | head -n 1; }

dump() {
  [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null || return 0
  echo "---- responder journal (last 40 lines)" >&2
  cx journalctl -t synguard-responder --no-pager -n 40 >&2 2>&1 || true
  echo "---- prometheus, alertmanager journal (last 10 lines each)" >&2
  cx journalctl -t prometheus --no-pager -n 10 >&2 2>&1 || true
  cx journalctl -t prometheus-alertmanager --no-pager -n 10 >&2 2>&1 || true
  echo "---- firewalld journal (last 15 lines)" >&2
  cx journalctl -t firewalld --no-pager -n 15 >&2 2>&1 || true
}

cleanup() {
  set +e
  stop_container
  [ -f "$work/listener.pid" ] && kill "$(cat "$work/listener.pid")" 2>/dev/null
  [ -f "$work/alertmanager.pid" ] && kill "$(cat "$work/alertmanager.pid")" 2>/dev/null
  ip netns del "$att" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  # Never follow into mounts: the container is down, but be sure.
  if ! grep -q " $work/" /proc/mounts; then rm -rf "$work"; fi
}
trap cleanup EXIT

# wait_for SECONDS WHAT CMD...: poll CMD every 0.5 s until it succeeds.
wait_for() {
  local secs=$1 what=$2 i; shift 2
  for ((i = 0; i < secs * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  fail "$what: not within ${secs}s"
}

rootfs() {
  local pk=polkitd tar pkgs key
  [ "$suite" = bullseye ] && pk=policykit-1
  # What an operator's host has before synguard: systemd, its bus, polkit,
  # firewalld (with the ipset tool it recommends: the responder package
  # depends on it, and the container has no network for apt to fetch it),
  # Prometheus and Alertmanager; netbase and procps for firewalld and ps.
  pkgs="systemd,systemd-sysv,dbus,firewalld,ipset,$pk,iproute2,nftables,curl,ca-certificates,netbase,procps,prometheus,prometheus-alertmanager"
  key=$(printf '%s' "$pkgs" | sha256sum | cut -c1-8)
  tar=$cache/$suite-$key.tar
  mkdir -p "$cache"
  if [ ! -s "$tar" ]; then
    log "mmdebstrap $suite (cached in $tar)"
    mmdebstrap --quiet --variant=apt --format=tar --include="$pkgs" "$suite" "$tar.tmp" && mv "$tar.tmp" "$tar"
  fi
  mkdir -p "$root"
  tar -C "$root" -xf "$tar"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mkdir -p "$root/root/new" "$root/root/old"
  cp "$newdebs"/*.deb "$root/root/new/"
  cp "$olddebs"/*.deb "$root/root/old/"
  if [ -n "$manual" ]; then
    tar -C "$root/root" -xzf "$(ls "$newdebs"/synguard-*.linux-amd64.tar.gz)"
    mv "$root"/root/synguard-*.linux-amd64 "$root/root/synguard"
  fi
}

network() {
  ip netns add "$ns"
  ip netns add "$att"
  ip link add sgh-a netns "$att" type veth peer name host0 netns "$ns"
  ip -n "$ns" link set lo up
  ip -n "$att" link set lo up
  ip -n "$ns" addr add "$victim4/30" dev host0
  ip -n "$att" addr add "$attacker4/30" dev sgh-a
  ip -n "$ns" link set host0 up
  ip -n "$att" link set sgh-a up
  # The spoofed sources route back to the attacker, which drops every
  # reply (SYN-ACKs): the victim's sockets stay in SYN_RECV.
  ip -n "$ns" route add 203.0.113.0/24 via "$attacker4" dev host0
  ip -n "$att" route add blackhole 203.0.113.0/24
  ip netns exec "$att" nft -f - <<'NFT'
table inet sghlab {
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    iifname "sgh-a" meta l4proto tcp drop
  }
}
NFT
  ip netns exec "$ns" sysctl -qw net.ipv4.tcp_syncookies=0 net.ipv4.tcp_max_syn_backlog=4096 \
    net.core.somaxconn=4096 net.ipv4.tcp_synack_retries=6
  # A listener that never accepts, on 25 and 587, in the host's namespace.
  ip netns exec "$ns" "$tools/listener" -ports 25,587 -backlog 4096 -seconds 900 -v6 "" \
    >"$work/listener.log" 2>&1 &
  echo $! >"$work/listener.pid"
}

boot() {
  log "boot"
  systemd-nspawn -q -b -D "$root" -M "$name" --network-namespace-path="/run/netns/$ns" \
    --capability=CAP_NET_ADMIN,CAP_NET_RAW --register=no --keep-unit \
    >>"$work/console.log" 2>&1 </dev/null &
  nspawn_pid=$!
  wait_for 30 "container init" init_pid
  wait_for 60 "systemd running" running
  wait_for 30 "firewalld running" cx firewall-cmd --state
}
running() {
  local s
  s=$(cx systemctl is-system-running 2>/dev/null) || true
  case "$s" in running|degraded) return 0 ;; *) return 1 ;; esac
}

stop_container() {
  [ -n "$nspawn_pid" ] || return 0
  kill "$nspawn_pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 60; i++)); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$nspawn_pid" 2>/dev/null || true
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
}

# debs DIR: the container's paths of both packages in /root/DIR.
debs() {
  local f
  for f in "$root/root/$1"/synguard-exporter_*.deb "$root/root/$1"/synguard-responder_*.deb; do
    [ -e "$f" ] || fail "no package $f"
    echo "/root/$1/${f##*/}"
  done
}

apt_install() {
  cx env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confold "$@" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; fail "apt-get install $*"; }
}

# blocked: the flood prefix is in firewalld's runtime drop zone, as a zone
# source or an entry of an ipset bound to it.
blocked() {
  local src set
  for src in $(cx firewall-cmd --zone=drop --list-sources); do
    [ "$src" = "$flood_prefix" ] && return 0
    case "$src" in
      ipset:*) set=${src#ipset:}
        cx firewall-cmd --ipset="$set" --get-entries | grep -qx "$flood_prefix" && return 0 ;;
    esac
  done
  return 1
}

# no_entry: nothing of synguard's left in firewalld: no zone source (runtime
# or permanent) of the flood prefix or a synguard ipset, no permanent
# synguard ipset, and any runtime synguard ipset empty (firewalld drops a
# runtime ipset only at its next reload; purge empties and unbinds it).
no_entry() {
  local src set
  src=$(cx firewall-cmd --zone=drop --list-sources; cx firewall-cmd --permanent --zone=drop --list-sources)
  if grep -Eq "synguard|203\.0\.113" <<<"$src"; then echo "zone sources left: $src" >&2; return 1; fi
  if cx firewall-cmd --permanent --get-ipsets | grep -q synguard; then
    echo "permanent ipsets left: $(cx firewall-cmd --permanent --get-ipsets)" >&2; return 1
  fi
  for set in $(cx firewall-cmd --get-ipsets); do
    case "$set" in synguard*) ;; *) continue ;; esac
    if [ -n "$(cx firewall-cmd --ipset="$set" --get-entries)" ]; then
      echo "runtime ipset $set has entries: $(cx firewall-cmd --ipset="$set" --get-entries)" >&2; return 1
    fi
    log "runtime ipset $set left empty and unbound until firewalld's next reload"
  done
}

# expiry reads the state as the responder does: the snapshot, then the
# journal's records after it ("CRC JSON" lines; a torn last one skipped).
expiry() {
  python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
bs={b["prefix"]: b for b in d["blocks"]}
try:
    for line in open(sys.argv[1]+".journal"):
        if not line.endswith("\n"):
            break
        r=json.loads(line[9:])
        if r["seq"] <= d.get("seq", 0):
            continue
        bs.update((b["prefix"], b) for b in r.get("put", []))
        for q in r.get("delete", []):
            bs.pop(q, None)
except FileNotFoundError:
    pass
print(" ".join(b["expiry"] for b in bs.values() if b["prefix"]==sys.argv[2] and b["active"]))' \
    "$root/var/lib/synguard-responder/state.json" "$flood_prefix"
}

syn_recv_on() {
  ip netns exec "$ns" ss -Htn state syn-recv | awk -v p=":$1" '$3 ~ p"$" && $4 ~ /^203\.0\.113\./' | wc -l
}

flood() {
  ip netns exec "$att" "$tools/synflood" -dst "$victim4" -src "$flood_src" -port "$1" -count "$2" -rate 2000 \
    -sport-base "$3" >>"$work/flood.log" 2>&1
}

configure() {
  if [ -z "$manual" ]; then
    log "configure Prometheus and Alertmanager from /usr/share/synguard, edit and start the responder"
    cx sh -e -c '
      cp /usr/share/synguard/examples/prometheus.yml /etc/prometheus/prometheus.yml
      rm -rf /etc/prometheus/rules && ln -s /usr/share/synguard/rules /etc/prometheus/rules
      cp /usr/share/synguard/examples/alertmanager.yml /etc/prometheus/alertmanager.yml
      install -D -m 0640 -g prometheus /etc/synguard/webhook.token /etc/alertmanager/synguard-responder.token
      # The operator edits: a marker in responder.yml and in the EnvironmentFile.
      echo "# edited by hostlab" >>/etc/synguard/responder.yml
      echo "# edited by hostlab" >>/etc/default/synguard-responder
    '
  fi
  # One Alertmanager, no cluster: without a private address on the host
  # it refuses to start ("no private IP found").
  cx sh -c 'echo "ARGS=\"--cluster.listen-address=\"" >/etc/default/prometheus-alertmanager'
  if [ -n "$mode" ]; then
    cx sed -i "s/^\( *mode:\) .*/\1 $mode/" /etc/synguard/responder.yml
  fi
  cx synguard-responder --config.check --config.file=/etc/synguard/responder.yml >/dev/null ||
    fail "the packaged responder.yml does not pass --config.check"
  # The services this host offers (the listener's 25 and 587), as an
  # operator opens them: firewalld's default zone allows ssh only.
  cx firewall-cmd -q --permanent --add-port=25/tcp --add-port=587/tcp
  cx firewall-cmd -q --add-port=25/tcp --add-port=587/tcp
  # It failed at boot without the flag above: clear its start limit.
  cx systemctl reset-failed prometheus-alertmanager || true
  if [ "$suite" = bullseye ]; then
    # bullseye's Alertmanager 0.21 predates matchers: (the example's
    # syntax). There the lab's Alertmanager (this machine's Debian one, as
    # test/lab runs it) serves in the container's network namespace on the
    # package's example, reaching the responder on its loopback; bullseye's
    # own is stopped.
    cx systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
    local example=$root/usr/share/synguard/examples/alertmanager.yml
    [ -z "$manual" ] || example=$root/root/synguard/deploy/alertmanager/alertmanager.yml
    sed "s#credentials_file: .*#credentials_file: $root/etc/synguard/webhook.token#" \
      "$example" >"$work/alertmanager.yml"
    ip netns exec "$ns" prometheus-alertmanager --config.file="$work/alertmanager.yml" \
      --storage.path="$work/alertmanager" --cluster.listen-address= --web.listen-address=127.0.0.1:9093 \
      >"$work/alertmanager.log" 2>&1 &
    echo $! >"$work/alertmanager.pid"
    cx systemctl restart prometheus || fail "Prometheus did not start on the example config"
  else
  cx systemctl restart prometheus prometheus-alertmanager || fail "Prometheus or Alertmanager did not start on the example configs"
  fi
  cx systemctl enable --now synguard-responder
  wait_for 30 "responder active" cx systemctl is-active synguard-responder
  # Its set-up (in ipset mode: create the ipsets, reload firewalld once)
  # done: a flood during firewalld's reload would meet a half-loaded firewall.
  wait_for 30 "responder sees firewalld" responder_up
  sleep 1
}
# responder_up: its firewall backend answers (synguard_responder_firewalld_up,
# or the backend-neutral name of issue 14).
responder_up() {
  cx curl -sf http://127.0.0.1:9818/metrics | grep -Eq '^synguard_responder_(firewalld|firewall|backend)_up(\{[^}]*\})? 1$'
}

# manual_install: docs/deploy.md's appendix, steps 1-7, from the tarball.
manual_install() {
  log "manual install (docs/deploy.md appendix) from the release tarball"
  cx sh -e -c '
    cd /root/synguard
    # 1. the binaries (the tarball holds the static build)
    install -m 0755 synguard-exporter synguard-responder /usr/local/bin/
    # 2. users
    install -m 0644 deploy/systemd/synguard.sysusers.conf /usr/lib/sysusers.d/synguard.conf
    systemd-sysusers
    id synguard-exporter >/dev/null; id synguard-responder >/dev/null
    # 3. the polkit grant (.pkla on polkit 0.105)
    if [ -d /etc/polkit-1/rules.d ]; then
      install -m 0644 deploy/polkit/50-synguard-responder.rules /etc/polkit-1/rules.d/
    else
      install -D -m 0644 deploy/polkit/50-synguard-responder.pkla /etc/polkit-1/localauthority/50-local.d/50-synguard-responder.pkla
    fi
    # 4. configuration files
    install -d -m 0755 /etc/synguard
    install -m 0644 deploy/synguard/exporter.yml  /etc/synguard/exporter.yml
    install -m 0640 -g synguard-responder deploy/synguard/responder.yml /etc/synguard/responder.yml
    head -c 32 /dev/urandom | base64 > /etc/synguard/webhook.token
    head -c 32 /dev/urandom | base64 > /etc/synguard/api.token
    chown root:synguard-responder /etc/synguard/webhook.token /etc/synguard/api.token
    chmod 0640 /etc/synguard/webhook.token /etc/synguard/api.token
    install -d -m 0750 -g prometheus /etc/alertmanager
    install -m 0640 -g prometheus /etc/synguard/webhook.token /etc/alertmanager/synguard-responder.token
    synguard-exporter  --config.check --config.file=/etc/synguard/exporter.yml
    synguard-responder --config.check --config.file=/etc/synguard/responder.yml
    # 5. the services (the responder is started below, after the ports)
    install -m 0644 deploy/systemd/synguard-exporter.service deploy/systemd/synguard-responder.service /etc/systemd/system/
    systemctl daemon-reload
    systemctl enable --now synguard-exporter
    # 6. Prometheus
    install -d /etc/prometheus/rules
    install -m 0644 rules/*.yml /etc/prometheus/rules/
    cp deploy/prometheus/prometheus.yml /etc/prometheus/prometheus.yml
    # 7. Alertmanager
    cp deploy/alertmanager/alertmanager.yml /etc/prometheus/alertmanager.yml
  ' >"$work/manual.log" 2>&1 || { cat "$work/manual.log" >&2; fail "manual install"; }
}

# manual_uninstall: docs/deploy.md's "Uninstall" section.
manual_uninstall() {
  log "manual uninstall (docs/deploy.md)"
  cx sh -e -c '
    systemctl disable --now synguard-responder
    synguard-responder purge --config.file=/etc/synguard/responder.yml
    systemctl disable --now synguard-exporter
    rm -f /etc/systemd/system/synguard-*.service /etc/polkit-1/rules.d/50-synguard-responder.rules \
      /etc/polkit-1/localauthority/50-local.d/50-synguard-responder.pkla /usr/lib/sysusers.d/synguard.conf
    systemctl daemon-reload
  ' >"$work/uninstall.log" 2>&1 || { cat "$work/uninstall.log" >&2; fail "manual uninstall"; }
  grep -i purge "$work/uninstall.log" | sed "s/^/  uninstall: /"
  no_entry || fail "firewalld still has synguard entries after the manual uninstall"
}

install_packages() {
  log "install the first packaged commit's .debs"
  local pkgs
  mapfile -t pkgs < <(debs old)
  apt_install "${pkgs[@]}"
  wait_for 20 "exporter active after install" cx systemctl is-active synguard-exporter
  cx systemctl is-enabled synguard-exporter >/dev/null || fail "exporter not enabled"
  if cx systemctl is-active synguard-responder >/dev/null; then fail "the responder started on install"; fi
  grep -q "installed but not started" "$work/apt.log" || fail "no next steps printed on install"
  cx id synguard-responder >/dev/null || fail "no synguard-responder user"
  cx id synguard-exporter >/dev/null || fail "no synguard-exporter user"
  local t
  for t in webhook api; do
    cx test -s /etc/synguard/$t.token || fail "no $t token generated"
    # The responder (group) reads it; nobody else may.
    [ "$(cx stat -c '%a %U %G' /etc/synguard/$t.token)" = "640 root synguard-responder" ] ||
      fail "$t.token: $(cx stat -c '%a %U %G' /etc/synguard/$t.token), want 640 root synguard-responder"
  done
  tokens=$(cx cat /etc/synguard/webhook.token /etc/synguard/api.token)
}

upgrade() {
  log "upgrade to the current .debs (--force-confold)"
  local oldver pkgs
  oldver=$(cx synguard-responder --version 2>&1 | head -n 1)
  mapfile -t pkgs < <(debs new)
  apt_install "${pkgs[@]}"
  [ "$(cx synguard-responder --version 2>&1 | head -n 1)" != "$oldver" ] || fail "the upgrade did not change the binary"
  cx grep -q "edited by hostlab" /etc/synguard/responder.yml || fail "upgrade lost the edit of responder.yml"
  cx grep -q "edited by hostlab" /etc/default/synguard-responder || fail "upgrade lost the edit of the EnvironmentFile"
  [ -z "${tokens:-}" ] || [ "$(cx cat /etc/synguard/webhook.token /etc/synguard/api.token)" = "$tokens" ] ||
    fail "the upgrade replaced a token"
  wait_for 30 "responder active after upgrade" cx systemctl is-active synguard-responder
  wait_for 30 "block after upgrade" blocked
  [ "$(expiry)" = "$exp" ] || fail "upgrade changed the expiry: $exp -> $(expiry)"

}

remove_packages() {
  log "remove synguard-responder"
  cx env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q synguard-responder >"$work/remove.log" 2>&1 ||
    { cat "$work/remove.log" >&2; fail "apt-get remove"; }
  grep -i "purge" "$work/remove.log" | sed "s/^/  remove: /"
  no_entry || fail "firewalld still has synguard entries after removal"
  cx systemctl is-active synguard-responder >/dev/null && fail "responder still running after removal"
  log "purge both"
  cx env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q synguard-responder synguard-exporter >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log" >&2; fail "apt-get purge"; }
  cx id synguard-responder >/dev/null 2>&1 && fail "user synguard-responder left after purge"
  cx id synguard-exporter >/dev/null 2>&1 && fail "user synguard-exporter left after purge"
  cx test -e /var/lib/synguard-responder && fail "/var/lib/synguard-responder left after purge"
  cx test -e /etc/synguard && fail "/etc/synguard left after purge: $(cx find /etc/synguard)"
  no_entry || fail "firewalld has synguard entries after purge"
}

# measure_noipset (SGH_MEASURE_NOIPSET=SECONDS, a measurement, not part of
# the test): the ipset tool removed (dpkg --force-depends) and firewalld
# restarted, as on a firewalld 0.9 host installed without its
# recommendations; counts the responder's firewalld reloads for SECONDS.
measure_noipset() {
  log "measure: remove the ipset tool, restart firewalld, count reloads for ${SGH_MEASURE_NOIPSET}s"
  cx dpkg --purge --force-depends ipset >/dev/null 2>&1 || fail "dpkg --purge ipset"
  local before after
  before=$(cx journalctl -t synguard-responder --no-pager | grep -c "reloading firewalld" || true)
  cx systemctl restart firewalld
  sleep "$SGH_MEASURE_NOIPSET"
  after=$(cx journalctl -t synguard-responder --no-pager | grep -c "reloading firewalld" || true)
  log "measured: $((after - before)) firewalld reloads by the responder in ${SGH_MEASURE_NOIPSET}s without the ipset tool"
  { cx journalctl -t firewalld --no-pager -n 200 | grep -m 3 "hash:net\|INVALID_IPSET" | sed "s/^/  firewalld: /"; } || true
  { cx journalctl -t synguard-responder --no-pager | grep -m 1 "still not in" | sed "s/^/  responder: /"; } || true
  blocked && log "measured: the block is in firewalld" || log "measured: the block is NOT in firewalld"
}

main() {
  mkdir -p "$work"
  rootfs
  network
  boot
  log "$(cx firewall-cmd --version | sed 's/^/firewalld /'), $(cx systemctl --version | head -n 1), $(cx sh -c 'pkaction --version 2>/dev/null || dpkg-query -W -f="polkit \${Version}" policykit-1 polkitd 2>/dev/null' | head -n 1)"

  if [ -n "$manual" ]; then
    manual_install
  else
    install_packages
  fi
  configure
  wait_for 30 "Prometheus up" cx curl -sf http://127.0.0.1:9090/-/ready
  wait_for 30 "Alertmanager up" cx curl -sf http://127.0.0.1:9093/-/ready

  log "SYN flood from $flood_src to :25"
  flood 25 300 10000
  local n
  n=$(syn_recv_on 25)
  [ "$n" -ge 100 ] || fail "only $n SYN_RECV sockets from the flood"
  log "$n SYN_RECV sockets; waiting for the block"
  local t0=$SECONDS
  wait_for 90 "block of $flood_prefix in firewalld" blocked
  log "blocked after $((SECONDS - t0)) s"
  local user
  user=$(cx ps -o user= -p "$(cx systemctl show -p MainPID --value synguard-responder)")
  [ "$user" = synguard-responder ] || fail "the responder runs as $user"
  flood 587 100 20000
  sleep 1
  n=$(syn_recv_on 587)
  [ "$n" = 0 ] || fail "$n SYN_RECV sockets from the blocked prefix after the block"
  local exp
  exp=$(expiry)
  [ -n "$exp" ] || fail "no active block in the state file"

  if [ -n "${SGH_MEASURE_NOIPSET:-}" ]; then measure_noipset; return; fi
  [ -n "$manual" ] || upgrade
  log "systemctl restart firewalld"
  cx systemctl restart firewalld
  wait_for 30 "block after firewalld restart" blocked
  log "firewall-cmd --reload"
  cx firewall-cmd --reload >/dev/null
  wait_for 30 "block after --reload" blocked
  log "firewall-cmd --complete-reload"
  local out
  if ! out=$(cx firewall-cmd --complete-reload 2>&1); then
    # firewalld 0.9.3 unloads the netfilter modules on a complete reload and
    # reads /proc/modules for that; this machine's kernel has no module
    # support (no /proc/modules, in or out of the container).
    if [ ! -e /proc/modules ] && grep -q "/proc/modules" <<<"$out"; then
      log "--complete-reload failed as firewalld $(cx firewall-cmd --version) does on a kernel without modules ($(tail -n 1 <<<"$out")); firewalld is left $(cx firewall-cmd --state 2>&1 || true): systemctl restart firewalld"
      cx systemctl restart firewalld
    else
      fail "firewall-cmd --complete-reload: $out"
    fi
  fi
  wait_for 30 "firewalld running after --complete-reload" cx firewall-cmd --state
  wait_for 30 "block after --complete-reload" blocked
  log "systemctl restart synguard-responder"
  cx systemctl restart synguard-responder
  wait_for 30 "block after responder restart" blocked

  log "reboot"
  cx systemctl reboot || true
  local i
  for ((i = 0; i < 120; i++)); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$nspawn_pid" 2>/dev/null && fail "nspawn did not exit on reboot"
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
  boot
  wait_for 30 "responder active after reboot" cx systemctl is-active synguard-responder
  wait_for 30 "block after reboot" blocked
  [ "$(expiry)" = "$exp" ] || fail "reboot changed the expiry: $exp -> $(expiry)"
  flood 587 100 30000
  sleep 1
  n=$(syn_recv_on 587)
  [ "$n" = 0 ] || fail "$n SYN_RECV sockets from the blocked prefix after the reboot"

  # Reloads the responder made, all boots (issue 11 item 4: bounded). No
  # metric counts them yet: its log does ("reloading firewalld").
  local reloads
  reloads=$(cx journalctl -t synguard-responder --no-pager | grep -c "reloading firewalld" || true)
  log "the responder reloaded firewalld $reloads times in all (ipset creation, then after restarts)"
  [ "$reloads" -le "${SGH_MAX_RELOADS:-10}" ] || fail "the responder reloaded firewalld $reloads times"

  if [ -n "$manual" ]; then manual_uninstall; else remove_packages; fi
  log "PASS"
}

main
