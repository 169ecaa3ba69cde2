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
    if [ "$name" = synguard-responder ]; then
      echo "#"
      echo "# The responder listens on loopback only: Alertmanager on this host reaches"
      echo "# it. For Alertmanagers on other hosts, listen where they reach it and"
      echo "# serve TLS with client certificates (exporter-toolkit web config with"
      echo "# client_allowed_sans), so the bearer tokens never cross the network in"
      echo "# clear text, e.g.:"
      echo "#   ARGS=\"--config.file=/etc/synguard/responder.yml --web.listen-address=:9818 --web.config.file=/etc/synguard/web.yml\""
      echo "# and open the port: firewall-cmd --permanent --add-service=synguard-responder."
    fi
    echo "ARGS=\"$args\""
  } >"$out/$name.env"
done
