# usage: python3 test/bench/ruleshapes.py INTERVAL_S EVAL_S  (promtool 2.x on PATH, a 3.x promtool as $PROMTOOL3)
# For each rule shape and scenario: which evaluation times (250 ms apart) show the alert firing,
# under promtool 2.42 and 3.x. Each eval time is asserted "no alert"; the failures list the firing ones.
# Shapes (issue 13; x is the prefix's SYN_RECV series, 50 the threshold, I the scrape interval):
#   A: the last two raw samples of a 3I range, via idelta;  B: every raw sample of a 1.5I range,
#   and two of them;  B_kff: B with keep_firing_for I;  S: the shipped shape (subquery over
#   975ms at 50ms steps: every step at or above, and the sample timestamp changed), keep_firing_for I.
# Scenarios (one value per scrape, "stale" where the exporter left the prefix out): see scen below.
# Results: test/bench/results/latency.md.
import os, subprocess, tempfile, yaml, re, sys
os.chdir(tempfile.mkdtemp(prefix="ruleshapes."))
I = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
E = float(sys.argv[2]) if len(sys.argv) > 2 else 0.25
def ms(s): return "%dms" % round(s * 1000)
shapes = {
 "A_idelta3I": dict(expr="x >= 50 and (x - idelta(x[%s])) >= 50" % ms(3*I)),
 "B_min_count_1.5I": dict(expr="min_over_time(x[%s]) >= 50 and count_over_time(x[%s]) >= 2" % (ms(1.5*I), ms(1.5*I))),
 "B_kff": dict(expr="min_over_time(x[%s]) >= 50 and count_over_time(x[%s]) >= 2" % (ms(1.5*I), ms(1.5*I)), keep_firing_for=ms(I)),
 "S_subquery_kff": dict(expr="x >= 50 and min_over_time(x[975ms:50ms]) >= 50 and changes(timestamp(x)[975ms:50ms]) > 0", keep_firing_for=ms(I)),
}
scen = {
 "single": "stale stale 80 stale stale stale stale stale",
 "pair": "stale stale 80 80 stale stale stale stale",
 "gap": "80 stale 80 stale 80 stale 80 stale",
 "steady": "stale 80 80 80 80 80 80 stale stale stale",
 "dip": "80 80 40 80 80 stale stale stale",
}
print("| shape | scenario (samples every %gs) | firing, 2.42 (s) | firing, 3.x |\n|---|---|---|---|" % I)
for sn, sh in shapes.items():
    rule = {"alert": "F", "expr": sh["expr"]}
    if "keep_firing_for" in sh: rule["keep_firing_for"] = sh["keep_firing_for"]
    yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}, open("r.yml", "w"))
    for cn, vals in scen.items():
        n = len(vals.split())
        times = [round(k * E, 3) for k in range(int(n * I / E) + 4)]
        t = {"rule_files": ["r.yml"], "evaluation_interval": ms(E), "tests": [{"interval": ms(I),
             "input_series": [{"series": 'x{p="a"}', "values": vals}],
             "alert_rule_test": [{"eval_time": ms(tt), "alertname": "F", "exp_alerts": []} for tt in times]}]}
        yaml.safe_dump(t, open("t.yml", "w"))
        out = {}
        for name, pt in (("2.42", "promtool"), ("3.x", os.environ.get("PROMTOOL3", "promtool3"))):
            o = subprocess.run([pt, "test", "rules", "t.yml"], capture_output=True, text=True).stdout + subprocess.run([pt, "test", "rules", "t.yml"], capture_output=True, text=True).stderr
            def dur(d):
                v = 0.0
                for num, unit in re.findall(r"([0-9]+)(ms|s|m)", d):
                    v += int(num) * {"ms": 0.001, "s": 1, "m": 60}[unit]
                return round(v, 3)
            fired = sorted(set(dur(d) for d in re.findall(r"time: ([0-9msh]+),", o)))
            if "FAILED" in o and not fired: fired = ["ERR " + o[:300]]
            out[name] = fired
        def ranges(ts):
            if not ts: return "never"
            rs, a, b = [], ts[0], ts[0]
            for x in ts[1:]:
                if round(x - b, 3) <= E: b = x
                else: rs.append((a, b)); a = b = x
            rs.append((a, b))
            return " ".join("%g-%g" % r if r[0] != r[1] else "%g" % r[0] for r in rs)
        r2, r3 = ranges(out["2.42"]), ranges(out["3.x"])
        print(f"| {sn} | {cn} | {r2} | {'same' if r2 == r3 else r3} |")
