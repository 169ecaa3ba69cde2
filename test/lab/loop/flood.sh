# shellcheck shell=bash
# test/lab/loop.sh, stage "flood": the SYN flood from the attacker namespace
# (test/lab/cmd/synflood) and ss's per-/27 view of it. Sourced by
# test/lab/loop.sh; defines functions only.

# loop_flood_start I [RATE] [PREFIXES]: flood victim I's :25 from each
# prefix (spoofed sources spread over the prefix), RATE SYNs/s per prefix,
# until loop_flood_stop. The start time (ms) goes to flood$i.start.
loop_flood_start() {
  local i=$1 rate=${2:-${LOOP_FLOOD_RATE:-1000}} prefixes=${3:-$(loop_flood_prefixes)}
  loop_log "flood: victim $i :25 from $prefixes at $rate SYN/s per prefix"
  loop__now_ms >"$(loop__state)/flood$i.start"
  loop__flood_spawn "$i" "$rate" "$prefixes"
}

loop_flood_stop() { loop_kill "flood$1" TERM 5; }

# loop__flood_spawn I RATE PREFIXES: test/lab/cmd/synflood in the attacker namespace,
# again and again (it sends a bounded count per run), each run from fresh
# source ports so its SYNs make new sockets, until loop_flood_stop. The
# wrapper leads its own process group, so stopping it stops the flooder too.
# LOOP_FLOODER, when set, replaces test/lab/cmd/synflood (same flags).
loop__flood_spawn() {
  local i=$1 rate=$2 prefixes=$3 count
  count=$(( rate * $(wc -w <<<"$prefixes") * 20 ))   # about 20 s a run
  (( count > 100000 )) && count=100000
  # shellcheck disable=SC2016
  loop__spawn "flood$i" "$(loop_att_ns)" setsid bash -c '
    flooder=$1 dst=$2 src=$3 rate=$4 count=$5 hosts=$6 end=$(( SECONDS + $7 )) base=10000
    while (( SECONDS < end )); do
      "$flooder" -dst "$dst" -port 25 -src "$src" -rate "$rate" -count "$count" -sport-base "$base" || exit 1
      base=$(( base + count / hosts + 1 )); (( base > 60000 )) && base=10000
    done' loop-flood "${LOOP_FLOODER:-$(loop__bin)/lab/synflood}" "$(loop_victim_ip "$i")" "${prefixes// /,}" \
      "$(( rate * $(wc -w <<<"$prefixes") ))" "$count" "$(( 32 * $(wc -w <<<"$prefixes") ))" "$(loop__seconds)"
}

# loop_ss_counts I: SYN_RECV sockets per /27 in victim I, as ss shows them
# ("prefix count" lines, sorted).
loop_ss_counts() {
  ip netns exec "$(loop_victim_ns "$1")" ss -Htan state syn-recv | awk '
    { a = $4; sub(/:[0-9]+$/, "", a); gsub(/[][]/, "", a); sub(/^::ffff:/, "", a)
      if (split(a, o, ".") != 4) next
      printf "%s.%s.%s.%d/27\n", o[1], o[2], o[3], int(o[4] / 32) * 32 }' | sort | uniq -c | awk '{print $2, $1}'
}
