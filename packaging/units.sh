#!/usr/bin/env bash
# packaging/units.sh FORMAT OUTDIR: the packaged systemd units and their
# EnvironmentFiles, derived from deploy/systemd/*.service so there is one
# copy of the hardening. FORMAT deb puts the EnvironmentFile at
# /etc/default/NAME, rpm at /etc/sysconfig/NAME. In each unit the
# multi-line ExecStart=/usr/local/bin/NAME --flag ... becomes
#   EnvironmentFile=/etc/{default,sysconfig}/NAME
#   ExecStart=/usr/bin/NAME $ARGS
# and the flags move to ARGS="..." in the EnvironmentFile, where an upgrade
# keeps the operator's edits (a config file) and the unit stays the
# package's. Fails if a unit has no ExecStart of that shape.
set -euo pipefail
cd "$(dirname "$0")/.."
format=$1 out=$2
case "$format" in
  deb) envdir=/etc/default ;;
  rpm) envdir=/etc/sysconfig ;;
  *) echo "units.sh: format must be deb or rpm" >&2; exit 2 ;;
esac
mkdir -p "$out"
for name in synguard-exporter synguard-responder; do
  unit=deploy/systemd/$name.service
  awk -v name="$name" -v envfile="$envdir/$name" -v argsout="$out/$name.args" '
    BEGIN { found = 0; inexec = 0 }
    inexec {
      line = $0; cont = sub(/\\[ \t]*$/, "", line)
      args = args " " line
      if (!cont) { inexec = 0; emit() }
      next
    }
    $0 ~ "^ExecStart=/usr/local/bin/" name "([ \t]|$)" {
      found = 1; line = $0; sub("^ExecStart=/usr/local/bin/" name, "", line)
      cont = sub(/\\[ \t]*$/, "", line); args = line
      if (!cont) emit(); else inexec = 1
      next
    }
    { print }
    function emit() {
      gsub(/[ \t]+/, " ", args); sub(/^ /, "", args); sub(/ $/, "", args)
      print "EnvironmentFile=" envfile
      print "ExecStart=/usr/bin/" name " $ARGS"
      print args > argsout
    }
    END { if (!found) { print "units.sh: no ExecStart=/usr/local/bin/" name " in the unit" > "/dev/stderr"; exit 1 } }
  ' "$unit" >"$out/$name.service"
  args=$(cat "$out/$name.args"); rm "$out/$name.args"
  case "$args" in *--config.file=*) ;; *) echo "units.sh: $unit: ExecStart has no --config.file" >&2; exit 1 ;; esac
  {
    echo "# Flags of $name, read by $name.service, which runs"
    echo "#   /usr/bin/$name \$ARGS"
    echo "# Edit ARGS and run: systemctl restart $name. All flags: $name --help."
    echo "# A package upgrade keeps this file as you left it."
    # A fleet's listen address and web config (docs/fleet.md, "TLS with
    # client certificates"; the web configs ship under
    # /usr/share/synguard/examples/fleet/).
    port=9817 web=exporter-web.yml
    echo "#"
    if [ "$name" = synguard-responder ]; then
      port=9818 web=responder-web.yml
      echo "# The responder listens on loopback only: Alertmanager on this host reaches"
      echo "# it. In a fleet, where Alertmanagers on other hosts post to it and"
      echo "# Prometheus scrapes it, listen on this host's own address and serve TLS"
      echo "# that requires a client certificate (exporter-toolkit web config with"
      echo "# client_allowed_sans: the Alertmanagers' and Prometheus's), so the bearer"
      echo "# tokens never cross the network in clear text. E.g., this host being"
      echo "# 203.0.113.21:"
    else
      echo "# In a fleet, listen on this host's own address and serve TLS that requires"
      echo "# a client certificate (exporter-toolkit web config with"
      echo "# client_allowed_sans: Prometheus's), so only Prometheus scrapes it. E.g.,"
      echo "# this host being 203.0.113.21:"
    fi
    echo "#   ARGS=\"${args%% --web.listen-address=*} --web.listen-address=203.0.113.21:$port --web.config.file=/etc/synguard/$web\""
    echo "# and open the port to those clients only (firewalld service $name)."
    echo "ARGS=\"$args\""
  } >"$out/$name.env"
done
