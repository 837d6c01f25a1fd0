# %% build="skip"
from edgelab.labcheck.i18n import _

# %% [markdown] id="c00"
# # 03 · Disconnection: keep selling while the WAN is down
#
# **Learning goals**
#
# - Cut a shop's WAN link while clerks keep browsing and selling.
# - See reads served from the edge (`OFFLINE-HIT`) and writes queued in its outbox (202).
# - Watch the outbox drain after the link comes back, and verify against the cloud that every sale
#   was applied exactly once.
# - Compare with the same workload without an edge cache.
# - Explain what Kubernetes does to an unreachable node's pods (K3s vs KubeEdge).
#
# **Time budget:** about 15 minutes (the experiment itself: warm-up + outage + recovery, twice).
#
# **Prerequisites**
#
# - Notebooks 01 and 02 passed.
#
# **Targets:** `local` (default) and `cluster` (the link is cut on the edge node by the `link`
# playbook through ansible-runner).
#
# Run the cells from top to bottom (*Run → Run All Cells* works too). Each phase says what you
# should see, does one thing, and then checks it: a ✔ line means the check passed, a ✘ line comes
# with a hint.

# %% [markdown] id="c01"
# ## Why this matters: what Kubernetes does when an edge node is cut off
#
# On plain Kubernetes, and on **K3s**, every node's kubelet reports to the API server. When a
# node stops reporting, the node controller marks it `NotReady` / `Unreachable` after about 40 s
# and taints it `node.kubernetes.io/unreachable`. Every pod gets a default toleration of
# **300 s** for that taint; after that the pods on the node are **evicted** and, for
# Deployments, rescheduled elsewhere. For a shop that is exactly wrong: the shop's edge cache
# must keep running *in the shop* while the WAN is down, and no other node can take its place.
#
# **KubeEdge** is built for this case: EdgeCore on the edge node keeps the pod specs in a local
# SQLite database (MetaManager) and keeps running them while the cloud is unreachable (edge
# autonomy); the cloud side does not evict them, and the node re-syncs when it comes back.
#
# So in this lab: outages shorter than 300 s behave the same on both flavors; on K3s a longer
# outage evicts the edge-cache pods (the DaemonSet pod comes back only when the node does),
# on KubeEdge it does not. The application-level part (serve reads from the cache, queue
# writes, replay them exactly once) is the same everywhere; that is what we measure here.

# %% [markdown] id="c02"
# ## Parameters
#
# `outage_s` is how long the link stays cut. `max_offline_stale_s` is how long past its
# freshness the edge may serve a stored response while offline (the cloud's own
# `stale-if-error=604800` also allows a week, and the edge takes the larger of the two).
# `outbox_max_entries` bounds the outbox: a full outbox answers `507 Insufficient Storage` and
# never evicts a queued sale. Try `outbox_max_entries = 1` and see which checks fail.
# `edges = 1` keeps the run short; with `edges = 2` both shops are cut at the same time.

# %% tags=["parameters"] id="c03"
target = "local"  # "local": every part is a process on this machine; "cluster": K3s/KubeEdge
kubeconfig = None  # cluster: kubeconfig path (None: $KUBECONFIG, then ~/.kube/config)
inventory = "../playbooks/inventory/lab-vms.yml"  # cluster: the Ansible inventory
lab_dir = "../build/lab/local"  # local: data, logs and pid files of the lab's processes
edges = 1  # local: how many edge caches (shops) to start
seed = 42  # seeds every random choice, so a rerun sends the same requests

outage_s = 6  # seconds the WAN link stays cut
warmup_s = 2  # seconds of normal work before the cut
after_s = 2  # seconds of work after the link is restored
mode = "refuse"  # "refuse": connections reset; "blackhole": packets silently dropped
concurrency = 2  # concurrent clerks per shop
write_share = 0.12  # share of requests that are writes (sales, goods received)
baseline = True  # also run the same workload with no cache (directly to the cloud)
max_offline_stale_s = 604800  # local: EDGE_CACHE_MAX_OFFLINE_STALE (seconds)
outbox_max_entries = 100000  # local: edge setting EDGE_CACHE_OUTBOX_MAX_ENTRIES
min_read_success = 0.5  # share of reads during the outage that must succeed via the edge
drain_timeout_s = 120  # how long the outboxes may take to drain after the link is back

results_dir = "../build/lab/notebooks/03-disconnection"  # results.json, CSV and PNG files
cleanup = True  # stop what this notebook started at the end, also after an error

# %% [markdown] id="c04"
# ## Set-up
#
# The next cell loads the lab kit and opens this notebook's results file. Every value we
# measure and every check is written to `results.json` in `results_dir` at once, so that
# `edgelab check` (and your instructor) can read them even if a later cell fails. Whatever
# this notebook starts is registered for teardown right away: it is stopped at the end, and
# also when the kernel stops after an error.

# %% id="c05"
from edgelab.experiments import disconnection
from edgelab.labcheck import Results, cluster
from edgelab.labcheck import walkthrough as steps
from IPython.display import Image, display

results = Results(results_dir, notebook="03-disconnection", cleanup=cleanup)
results.record(
    "parameters",
    {"target": target, "outage_s": outage_s, "mode": mode, "seed": seed,
     "max_offline_stale_s": max_offline_stale_s, "outbox_max_entries": outbox_max_entries},
)
print(f"results: {results.dir}")

# %% [markdown] id="c06"
# ## Phase 1 · Start the lab
#
# The edges get this notebook's offline bounds (local target). On a cluster we also note the
# edge-cache pods (name, node, uid, restarts) so that we can tell afterwards whether Kubernetes
# replaced them during the outage.
#
# *What you should see:* every part healthy, every edge online.

# %% id="c07"
edge_env = {
    "EDGE_CACHE_MAX_OFFLINE_STALE": str(max_offline_stale_s),
    "EDGE_CACHE_OUTBOX_MAX_ENTRIES": str(outbox_max_entries),
}
lab = steps.open_target(
    target, lab_dir=lab_dir, edges=edges, kubeconfig=kubeconfig, inventory=inventory,
    edge_env=edge_env if target == "local" else None,
)
steps.start(results, lab)
health = steps.wait_online(lab, timeout_s=30)
pods_before = None
if target == "cluster":
    k8s = cluster.api_client(steps.resolve_kubeconfig(kubeconfig))
    pods_before = cluster.edge_pods(k8s)
    display(pods_before)
health

# %% id="c08"
results.check(
    "lab ready",
    bool(health["healthy"].all()),
    success="cloud, links and edges healthy",
    hint="Run notebook 01 to find the part that is not healthy.",
    observed=health.loc[~health["healthy"], "name"].tolist(),
)

# %% [markdown] id="c09"
# ## Phase 2 · Run the experiment
#
# `disconnection()` does, for every shop at once:
#
# 1. **warm-up**: browse the catalogue and the shop's stock through the edge, so the cache holds it;
# 2. **workload** of clerks (browse, look up products and stock; `write_share` of the requests
#    sell or receive goods) for
#    `warmup_s + outage_s + after_s` seconds; after `warmup_s` the links are cut (`mode`) and
#    restored `outage_s` later;
# 3. **drain**: wait until every edge's outbox is empty (at most `drain_timeout_s`);
# 4. **verify** against the cloud: every write the shop accepted is there exactly once (no
#    loss, no duplicate), and the stock balances add up;
# 5. **baseline**: the same workload sent directly to the cloud through the same links, no cache.
#
# *What you should see:* progress bars for the phases (tens of seconds). Then a summary.

# %% id="c10"
run = disconnection(
    lab, outage_s=outage_s, warmup_s=warmup_s, after_s=after_s, mode=mode,
    concurrency=concurrency, baseline=baseline, seed=seed, drain_timeout_s=drain_timeout_s,
    mix=steps.shop_mix(write_share),
)
run.save(results.dir)
summary = results.record("experiment", run.summary)
{k: summary[k] for k in ("requests", "reads_during_outage", "read_success_rate_during_outage",
                         "writes_during_outage", "writes_accepted_during_outage",
                         "drained", "drain_time_s", "verification_passed")}

# %% [markdown] id="c11"
# ## Phase 3 · Reads during the outage
#
# While the link was cut, the edge could not reach the cloud. The prober noticed within about a
# second and switched the edge to OFFLINE; from then on every read was answered from the store
# (`X-Edge-Cache: OFFLINE-HIT`, with an `Age` header) without waiting for the cloud, as long as
# the stored copy was younger than `max_offline_stale_s`.
#
# *What you should see:* almost every read succeeded during the outage; a few may be `503`
# for URLs that were never cached.

# %% id="c12"
results.check(
    "reads served during the outage",
    (summary["read_success_rate_during_outage"] or 0) >= min_read_success,
    success=f"{summary['reads_ok_during_outage']}/{summary['reads_during_outage']} reads "
    "answered while the WAN was down",
    hint="Reads fail offline when nothing is cached (warm-up; entries the change feed "
    "evicted) or the stored copy is older than the offline licence (max_offline_stale_s).",
    observed=summary["read_success_rate_during_outage"],
)
results.check(
    "offline hits",
    summary["offline_hits_during_outage"] > 0,
    success=f"{summary['offline_hits_during_outage']} responses marked OFFLINE-HIT",
    hint="No OFFLINE-HIT: the edge never went offline. Did the link really go down?",
    observed=summary["cache_status_during_outage"],
)

# %% [markdown] id="c13"
# ## Phase 4 · Writes: queued, replayed, applied exactly once
#
# Every sale or receipt the shop made during the outage went into the edge's **outbox**
# (SQLite, fsynced before the clerk got `202 Accepted`). When the link came back, the edge
# replayed the outbox in order, with each write's `Idempotency-Key`, so a replay that the cloud
# had already applied (say, the answer was lost on the way back) is not applied twice.
#
# *What you should see:* every write during the outage accepted (202), the outboxes drained
# within seconds of the link coming back, and the verification passed: each accepted write
# applied exactly once, balances consistent.

# %% id="c14"
accepted = summary["writes_accepted_during_outage"]
results.check(
    "writes accepted during the outage",
    summary["writes_during_outage"] > 0 and accepted == summary["writes_during_outage"],
    success=f"{accepted} writes queued in the outbox (202) while offline",
    hint="507 answers mean the outbox was full (outbox_max_entries); 5xx means the edge "
    "forwarded instead of queueing.",
    observed=f"{accepted}/{summary['writes_during_outage']} accepted",
)
results.check(
    "outboxes drained",
    bool(summary["drained"]),
    success=f"drained {summary['drain_time_s']:.1f} s after the link came back"
    if summary["drained"] else "",
    hint="Look at outbox.csv and the edge's /_edge/outbox?state=dead for dead letters.",
)
results.check(
    "every write applied exactly once",
    bool(summary["verification_passed"]),
    success=f"{summary['writes_applied']} writes applied, 0 lost, 0 duplicated",
    hint="writes.csv lists every write and how often the cloud applied it.",
    observed=summary["verification_reasons"],
)

# %% [markdown] id="c15"
# ## Phase 5 · The same shop without an edge cache
#
# The baseline sent the same kind of workload straight to the cloud through the same links.
#
# *What you should see:* during the outage almost every request failed: without a local copy
# and a local queue, a cut WAN means a closed shop.

# %% id="c16"
base = summary.get("baseline") or {}
if baseline and "read_success_rate_during_outage" in base:
    results.record("baseline_read_success", base["read_success_rate_during_outage"])
    results.check(
        "the edge beats no cache during the outage",
        (base["read_success_rate_during_outage"] or 0)
        < (summary["read_success_rate_during_outage"] or 0),
        success=f"reads OK during the outage: edge "
        f"{summary['read_success_rate_during_outage']:.0%} vs no cache "
        f"{base['read_success_rate_during_outage'] or 0:.0%}",
        hint="The baseline should fail while the link is down; was the outage too short?",
    )
else:
    results.skip("the edge beats no cache during the outage", "baseline not run")

# %% [markdown] id="c17"
# ## Phase 6 · Did Kubernetes touch the edge pods? (cluster target only)
#
# *What you should see:* for an outage shorter than 300 s, the same edge-cache pods (same uid)
# with no new restarts, on K3s and on KubeEdge. Rerun with `outage_s = 360` on each flavor and
# compare: on K3s the pods on the cut node are evicted after the 300 s toleration, on KubeEdge
# they keep running.

# %% id="c18"
if pods_before is not None:
    pods_after = cluster.edge_pods(k8s)
    display(pods_after)
    kept = set(pods_before["uid"]) <= set(pods_after["uid"])
    restarts = int(pods_after["restarts"].sum() - pods_before["restarts"].sum())
    results.check(
        "edge pods kept running",
        kept and restarts == 0,
        success="same edge-cache pods, no restarts",
        hint="New pod uids mean Kubernetes evicted and replaced them (K3s after 300 s).",
        observed={"same_pods": kept, "new_restarts": restarts},
    )
else:
    results.skip("edge pods kept running", "local target: no pods")

# %% [markdown] id="c19"
# ## Plots
#
# `run.save()` wrote the tables (`requests.csv`, `outbox.csv`, `writes.csv`, `summary.json`)
# and these figures into `results_dir`: the request timeline with the outage shaded, the outbox
# depth over time, and latency distributions by cache status.

# %% id="c20"
for plot in run.plots:
    print(plot.name)
    display(Image(filename=str(plot)))

# %% [markdown] id="c21"
# ## Reflection
#
# 1. Which reads failed during the outage, and why? What would you cache on purpose before
#    closing time if you expected a long outage?
# 2. A sale replayed after the outage would drive stock below zero in the cloud. The cloud
#    accepts it and flags it for review instead of rejecting it. Why is rejecting it wrong?
# 3. The outbox answers `507` when full instead of dropping the oldest write. Why?
# 4. Your shops run on K3s agents and the WAN is down for 10 minutes. What happens to the
#    edge-cache pods at minute 5, and what would you change: KubeEdge, or tolerations?

# %% [markdown] id="c22"
# ## Summary
#
# The table lists every check of this notebook. `results.json` in `results_dir` holds the same
# table plus every recorded value; `edgelab check` reads it.

# %% id="c23"
results.record("all_checks_passed", results.all_passed)
results.summary()

# %% [markdown] id="c24"
# ## Teardown
#
# Stops what this notebook started (on the local target: the lab's processes; their data and
# logs stay in `lab_dir`). Safe to run twice, and safe after a failed cell. On a cluster
# nothing is removed: the instructor owns it. Set `cleanup = False` to keep the lab running
# after the notebook (then run `edgelab down` yourself).

# %% tags=["teardown"] id="c25"
results.teardown()
