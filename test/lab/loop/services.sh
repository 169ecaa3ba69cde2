# shellcheck shell=bash
# test/lab/loop.sh, stage "services": the lab's SMTP/POP3/HTTP/FTP servers
# in each victim and the control host, an ordinary SMTP client. Sourced by
# test/lab/loop.sh; defines functions only.

# loop_services_up I: SMTP/POP3/HTTP/FTP lab servers in victim I.
loop_services_up() {
  local i=$1 vns
  vns=$(loop_victim_ns "$i")
  loop__spawn "services$i" "$vns" "$(loop__bin)/lab/services" -hostname "victim$i.example" -seconds "$(loop__seconds)"
  loop_wait_until 10 ip netns exec "$vns" bash -c "exec 3<>/dev/tcp/$(loop_victim_ip "$i")/25" || {
    loop_log "lab services in $vns did not come up"; cat "$(loop__state)/logs/services$i.log" >&2; return 1; }
}

# loop_control_smtp I: the control host's SMTP dialogue with victim I; true
# when it read the 220 banner and the reply to EHLO within 3 s.
# shellcheck disable=SC2016  # the inner script's own $banner and $reply
loop_control_smtp() {
  local i=$1
  ip netns exec "$(loop_att_ns)" timeout 4 bash -c '
    exec 3<>/dev/tcp/'"$(loop_victim_ip "$i")"'/25 || exit 1
    read -r -t 3 banner <&3 || exit 1
    case "$banner" in 220*) ;; *) exit 1 ;; esac
    printf "EHLO control.example\r\nQUIT\r\n" >&3
    read -r -t 3 reply <&3 || exit 1
    case "$reply" in 250*) exit 0 ;; *) exit 1 ;; esac
  ' 2>/dev/null
}

# loop_control_up I: the control host's SMTP client, one session a second
# from its own address; its lines go to logs/control$I.log
# ("<unix ms> ok <ms>" or "<unix ms> fail <reason>").
loop_control_up() {
  local i=$1
  loop__spawn "control$i" "$(loop_att_ns)" "$(loop__bin)/lab/control" \
    -target "$(loop_victim_ip "$i"):25" -bind "$(loop_control_ip "$i")" -seconds "$(loop__seconds)"
}

# loop_control_last I: the control host's last result (ok or fail).
loop_control_last() { tail -n 1 "$(loop__state)/logs/control$1.log" 2>/dev/null | awk '{print $2}'; }
