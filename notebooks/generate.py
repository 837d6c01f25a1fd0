"""Write the four lab notebooks from the cell lists below.

Run `.venv/bin/python notebooks/generate.py` after editing.

The notebooks are generated so that they stay reviewable: edit this file, regenerate, commit
both. They are written without outputs; `tests/notebooks` checks that they match this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KERNEL = {"name": "edgelab", "display_name": "EdgeLab (Python 3)", "language": "python"}

Cell = tuple[str, str, tuple[str, ...]]


def md(text: str) -> Cell:
    return ("markdown", text.strip("\n"), ())


def code(text: str, *tags: str) -> Cell:
    return ("code", text.strip("\n"), tags)


COMMON_PARAMS_TEMPLATE = """
target = "local"  # "local": every part is a process on this machine; "cluster": K3s/KubeEdge
kubeconfig = None  # cluster: kubeconfig path (None: $KUBECONFIG, then ~/.kube/config)
inventory = "../playbooks/inventory/lab-vms.yml"  # cluster: the Ansible inventory
lab_dir = "../build/lab/local"  # local: data, logs and pid files of the lab's processes
edges = {edges}  # local: how many edge caches (shops) to start
seed = 42  # seeds every random choice, so a rerun sends the same requests
"""


def common_params(edges: int = 2) -> str:
    return COMMON_PARAMS_TEMPLATE.format(edges=edges)


TAIL_PARAMS = """
results_dir = "../build/lab/notebooks/{stem}"  # results.json, CSV and PNG files
cleanup = True  # stop what this notebook started at the end, also after an error
"""

SETUP_MD = md("""
## Set-up

The next cell loads the lab kit and opens this notebook's results file. Every value we
measure and every check is written to `results.json` in `results_dir` at once, so that
`edgelab check` (and your instructor) can read them even if a later cell fails. Whatever
this notebook starts is registered for teardown right away: it is stopped at the end, and
also when the kernel stops after an error.
""")

TEARDOWN = [
    md("""
## Teardown

Stops what this notebook started (on the local target: the lab's processes; their data and
logs stay in `lab_dir`). Safe to run twice, and safe after a failed cell. On a cluster
nothing is removed: the instructor owns it. Set `cleanup = False` to keep the lab running
after the notebook (then run `edgelab down` yourself).
"""),
    code(
        """
results.teardown()
""",
        "teardown",
    ),
]


def header(title: str, goals: list[str], budget: str, prereqs: list[str], targets: str) -> Cell:
    lines = [f"# {title}", "", "**Learning goals**", ""]
    lines += [f"- {g}" for g in goals]
    lines += ["", f"**Time budget:** {budget}", "", "**Prerequisites**", ""]
    lines += [f"- {p}" for p in prereqs]
    lines += [
        "",
        f"**Targets:** {targets}",
        "",
        "Run the cells from top to bottom (*Run → Run All Cells* works too). Each phase "
        "says what you should see, does one thing, and then checks it: a ✔ line means "
        "the check passed, a ✘ line comes with a hint.",
    ]
    return md("\n".join(lines))


def summary_cells() -> list[Cell]:
    return [
        md("""
## Summary

The table lists every check of this notebook. `results.json` in `results_dir` holds the same
table plus every recorded value; `edgelab check` reads it.
"""),
        code("""
results.record("all_checks_passed", results.all_passed)
results.summary()
"""),
    ]


# --------------------------------------------------------------------------- 01-install

NB01: list[Cell] = [
    header(
        "01 · Install and verify the lab",
        [
            "Name the three parts of EdgeLab (cloud app, edge caches, WAN links) and where "
            "each runs.",
            "Bring the local lab up, or connect to the class cluster, and verify every part.",
            "Read a Kubernetes node table: Ready, roles, versions, the edge label.",
            "Measure a first round trip to each part.",
        ],
        "about 10 minutes (local: the first start takes ~30 s while demo data is loaded).",
        [
            "`make setup` has run (it installs the lab kit and registers this notebook's kernel).",
            "Cluster target only: the instructor ran `playbooks/site.yml`; you have the kubeconfig "
            "it wrote (`build/kubeconfig`) and can reach the cloud node.",
        ],
        "`local` (default) and `cluster` (K3s or KubeEdge).",
    ),
    md("""
## Parameters

This cell is tagged `parameters`: `edgelab check -p name value` replaces these values when the
notebook runs headless. Change them here when you work interactively.
"""),
    code(
        common_params()
        + """
probes = 10  # health requests per part in phase 4
"""
        + TAIL_PARAMS.format(stem="01-install"),
        "parameters",
    ),
    SETUP_MD,
    code("""
from edgelab.labcheck import Results, cluster, figures
from edgelab.labcheck import walkthrough as steps
from IPython.display import display

results = Results(results_dir, notebook="01-install", cleanup=cleanup)
results.record("parameters", {"target": target, "edges": edges, "seed": seed})
print(f"results: {results.dir}")
"""),
    md("""
## Phase 1 · Bring the lab up

**Local target.** `LocalTarget` starts real processes: the cloud app (`inventory-app`, the
system of record, on SQLite), one link emulator per shop (a TCP proxy that plays the WAN: we
can slow it down or cut it), and one edge cache per shop (`edge-cache`, the sidecar that
keeps the shop working when the WAN is down). Each edge reaches the cloud *only* through its
link.

**Cluster target.** Nothing is started: the notebook checks that the Kubernetes API answers
and finds the app and the edge caches the instructor deployed.

*What you should see:* the cloud's URL and one URL per edge. The first local start loads
three weeks of demo sales, so it takes longer than the next ones.
"""),
    code("""
lab = steps.open_target(
    target, lab_dir=lab_dir, edges=edges, kubeconfig=kubeconfig, inventory=inventory
)
steps.start(results, lab)
endpoints = results.record("endpoints", lab.endpoints())
endpoints
"""),
    code("""
results.check(
    "lab is up",
    len(endpoints.edges) > 0,
    success=f"cloud at {endpoints.cloud}; edges: {', '.join(endpoints.edges)}",
    hint="Read the error above. Locally, `edgelab status` and the logs in lab_dir/logs name "
    "the part that did not start; `edgelab down` clears a crashed earlier run.",
)
"""),
    md("""
## Phase 2 · Is every part healthy?

We ask each part for its health: the cloud's `/readyz`, each link's control API, and each
edge's `/_edge/status`.

*What you should see:* one row per part, all `healthy`. The edges say `online` (they can
reach the cloud through their link) with an empty outbox (`outbox_depth` 0: no writes are
waiting to be sent to the cloud).
"""),
    code("""
health = steps.wait_online(lab, timeout_s=30)
steps.save_table(results, "health", health)
results.record("health", health)
health
"""),
    code("""
results.check(
    "every part healthy",
    bool(health["healthy"].all()),
    success=f"{len(health)} parts answer their health checks",
    hint="Look at the state and detail columns; a part's log is in lab_dir/logs/<part>.log.",
    observed=health.loc[~health["healthy"], "name"].tolist(),
)
edge_rows = health[health["kind"] == "edge"]
results.check(
    "edges online",
    len(edge_rows) > 0 and bool((edge_rows["state"] == "online").all()),
    success="every edge reaches the cloud through its link",
    hint="An offline edge cannot reach the cloud: is its link down (`edgelab status`)?",
    observed=dict(zip(edge_rows["name"], edge_rows["state"], strict=True)),
)
"""),
    md("""
## Phase 3 · The cluster's nodes (cluster target only)

A K3s cluster has one server (role `control-plane`) and agents. In KubeEdge mode the edge
nodes run **EdgeCore** instead of a kubelet connected to the API server; their version
string says `kubeedge`. Both flavors label the edge nodes `edgelab.dev/edge=true`: the
edge-cache DaemonSet runs only there.

*What you should see:* every node `Ready`, at least one edge node, and versions KubeEdge
v1.23 supports (Kubernetes 1.30–1.32). On the local target there are no nodes: the checks are
marked skipped (–).
"""),
    code("""
if target == "cluster":
    nodes = steps.cluster_nodes(lab, kubeconfig)
    steps.save_table(results, "nodes", nodes)
    node_summary = results.record("nodes", cluster.summarize_nodes(nodes))
    display(nodes)
else:
    nodes, node_summary = None, None
    print("local target: every part is a process on this machine, no Kubernetes nodes")
"""),
    code("""
if node_summary is not None:
    results.check(
        "nodes ready",
        node_summary["nodes"] > 0 and not node_summary["not_ready"],
        success=f"{node_summary['nodes']} nodes Ready",
        hint="A NotReady edge: is EdgeCore/k3s-agent running on it, can it reach the cloud "
        "node (ports 6443, 10000, 10002)? KubeEdge join tokens expire after 24 h.",
        observed=node_summary["not_ready"],
    )
    results.check(
        "edge nodes labelled",
        len(node_summary["edge_nodes"]) > 0,
        success=f"edge nodes: {', '.join(node_summary['edge_nodes'])}",
        hint="Label them with the app playbook (playbooks/deploy.yml) or "
        "`kubectl label node NAME edgelab.dev/edge=true`.",
    )
    results.check(
        "supported Kubernetes versions",
        cluster.versions_supported(nodes),
        success=f"versions: {', '.join(node_summary['versions'])}",
        hint="KubeEdge v1.23 supports Kubernetes 1.30-1.32; pin k3s_version in group_vars.",
        observed=node_summary["versions"],
    )
else:
    for name in ("nodes ready", "edge nodes labelled", "supported Kubernetes versions"):
        results.skip(name, "local target: no Kubernetes nodes")
"""),
    md("""
## Phase 4 · First round trips

We send `probes` health requests to every part and time them. Rows named `link-…` go to the
cloud *through* that edge's WAN link: that is the path an edge's cache misses take.

*What you should see:* on one machine every round trip is around a millisecond; nothing is
slow yet because the links add no delay. (Notebook 02 adds WAN latency.) On a cluster the
edge numbers include the network between you and the edge node.
"""),
    code("""
probe_table = steps.probe_parts(lab, n=probes)
steps.save_table(results, "probes", probe_table)
results.record("probe_median_ms", probe_table.groupby("part")["latency_ms"].median())
fig = figures.probe_figure(probe_table)
figures.save(fig, results.file("probes.png"))
fig
"""),
    code("""
failed = probe_table[probe_table["status"] != 200]
results.check(
    "every probe answered",
    failed.empty,
    success=f"{len(probe_table)} health requests, all 200",
    hint="Some part did not answer; rerun phase 2 and read that part's log.",
    observed=sorted(set(failed["part"])),
)
"""),
    md("""
## Reflection

1. Which process would you stop to simulate "the shop lost its internet connection"? Why
   not stop the edge cache itself?
2. The edges reach the cloud only through their link. What would change if the edge cache
   talked to the cloud directly?
3. (Cluster) In KubeEdge mode, which component replaces the kubelet's direct connection to
   the API server, and where does it keep its state while the node is cut off?
"""),
    *summary_cells(),
    *TEARDOWN,
]

# --------------------------------------------------------------------------- 02-deploy

NB02: list[Cell] = [
    header(
        "02 · Deploy the app and browse through an edge",
        [
            "Start (or deploy) the inventory app and the edge caches, with demo data.",
            "Browse products and stock through a shop's edge cache.",
            "Read the cache status headers: `X-Edge-Cache: MISS`, then `HIT` or `REVALIDATED`.",
            "Explain why a fresh hit is fast and a revalidation still pays the WAN round trip.",
        ],
        "about 10 minutes.",
        ["Notebook 01 passed (the lab starts and every part is healthy)."],
        "`local` (default) and `cluster` (set `deploy = True` to run the deploy playbook "
        "through ansible-runner; otherwise the instructor's deployment is checked).",
    ),
    md("""
## Parameters
"""),
    code(
        common_params()
        + """
edge = "shop-1"  # the shop whose edge cache we browse through
ttl_s = 30  # local: how long the edge may serve /api/products without asking the cloud
wan_latency_ms = 40  # one-way delay added on every WAN link while we browse; 0: none
repeat = 3  # requests per URL through the edge
deploy = False  # cluster: run playbooks/deploy.yml through ansible-runner first
"""
        + TAIL_PARAMS.format(stem="02-deploy"),
        "parameters",
    ),
    SETUP_MD,
    code("""
from edgelab.labcheck import Results, cluster, figures
from edgelab.labcheck import walkthrough as steps

results = Results(results_dir, notebook="02-deploy", cleanup=cleanup)
results.record(
    "parameters", {"target": target, "edge": edge, "ttl_s": ttl_s, "wan_ms": wan_latency_ms}
)
print(f"results: {results.dir}")
"""),
    md("""
## Phase 1 · Deploy

**Local target.** We start the lab as in 01, with one change: a *policy file* for the edge
caches gives `/api/products` a freshness lifetime of `ttl_s` seconds. The cloud itself marks
its data `Cache-Control: public, max-age=0, stale-if-error=604800`: "always check with me
when you can reach me, but serve what you have for up to a week when you cannot". The policy
lets the shop skip that check for product data for `ttl_s` seconds; the cloud's change feed
evicts a product from the edge as soon as it changes, so the shop does not see stale prices
for long.

**Cluster target.** With `deploy = True` the notebook runs `playbooks/deploy.yml` through
ansible-runner (PostgreSQL, the app, an edge-cache DaemonSet on the nodes labelled
`edgelab.dev/edge=true`). Otherwise it uses what the instructor deployed.

*What you should see:* the same endpoints as in 01, all healthy.
"""),
    code("""
if target == "cluster" and deploy:
    playbook = cluster.run_playbook("deploy.yml", inventory, results.file("ansible"))
    results.record("deploy_playbook", playbook)
    results.check(
        "deploy playbook succeeded",
        playbook["rc"] == 0,
        success="playbooks/deploy.yml ran without failures",
        hint="Read results_dir/ansible/artifacts/*/stdout; rerun with -vvv from a terminal.",
        observed=playbook["status"],
    )
else:
    results.skip("deploy playbook succeeded", "nothing to deploy (local target, or deploy=False)")
"""),
    code("""
edge_env = {}
if target == "local":
    edge_env["EDGE_CACHE_POLICY_FILE"] = str(steps.write_policy(results, ttl_s))
lab = steps.open_target(
    target, lab_dir=lab_dir, edges=edges, kubeconfig=kubeconfig, inventory=inventory,
    edge_env=edge_env,
)
steps.start(results, lab)
health = steps.wait_online(lab, timeout_s=30)
steps.save_table(results, "health", health)
health
"""),
    code("""
results.check(
    "app and edges ready",
    bool(health["healthy"].all()) and edge in set(health["name"]),
    success=f"cloud and {', '.join(lab.endpoints().edges)} ready",
    hint=f"Is {edge!r} one of the edges? Read the detail column and the part's log.",
    observed=health.loc[~health["healthy"], "name"].tolist(),
)
"""),
    md("""
## Phase 2 · Demo data

The cloud holds a small shop chain: a central warehouse and one warehouse per shop, a few
hundred products in a category tree, suppliers and customers, and three weeks of purchases,
sales and transfers posted to the stock ledger. Locally `LocalTarget` loads it once per
`lab_dir`; on a cluster the deploy playbook did.

*What you should see:* a catalogue of a few hundred products.
"""),
    code("""
products = results.record("catalogue_size", steps.catalogue_size(lab))
print(f"{products} products in the catalogue")
results.check(
    "demo data loaded",
    products > 0,
    success=f"{products} products",
    hint="Locally: `edgelab seed`; on a cluster the app role seeds the demo data.",
)
"""),
    md("""
## Phase 3 · Browse through the edge

We add `wan_latency_ms` of delay to every WAN link (the link emulator holds every packet
that long in each direction), empty the edge's cache, and then request three URLs
`repeat` times through the edge, as the shop's clerk: the product list, one product, and
that product's stock in this shop. After that we request each URL once from the cloud over
the same WAN link, without a cache.

*What you should see* in the `x_edge_cache` column:

- the first request of every URL is a `MISS`: the edge fetched it from the cloud and stored it;
- product URLs then say `HIT` with an `Age` header: served from the edge's store, no WAN
  round trip at all, so they take about a millisecond;
- the stock URL says `REVALIDATED`: the edge asked the cloud "has this changed?"
  (`If-None-Match`) and got `304 Not Modified` back, so it paid the WAN round trip but did
  not transfer the body again.
"""),
    code("""
if wan_latency_ms > 0:
    results.on_teardown(lambda: steps.set_wan_latency(lab, 0), "restore the WAN links")
    steps.set_wan_latency(lab, wan_latency_ms)
steps.purge(lab, edge)
paths = steps.demo_paths(lab, edge)
browsing = steps.browse(lab, edge, paths, repeat=repeat)
steps.save_table(results, "browse", browsing)
results.record("browse", browsing)
browsing[["path", "via", "attempt", "status", "x_edge_cache", "age", "latency_ms"]]
"""),
    code("""
fig = figures.browse_figure(browsing)
figures.save(fig, results.file("browse.png"))
fig
"""),
    md("""
## Phase 4 · Check what the edge did
"""),
    code("""
via_edge = browsing[browsing["via"] == "edge"]
first = via_edge[via_edge["attempt"] == 1]
again = via_edge[via_edge["attempt"] > 1]
results.check(
    "first request is a MISS",
    bool((first["x_edge_cache"] == "MISS").all()),
    success="every URL was fetched from the cloud once",
    hint="The cache was not empty: did the purge fail? Is the edge-cache admin token set?",
    observed=dict(zip(first["path"], first["x_edge_cache"], strict=True)),
)
results.check(
    "repeats served by the cache",
    bool(again["x_edge_cache"].isin(["HIT", "REVALIDATED"]).all()),
    success="repeated requests were answered from the edge's store (HIT or REVALIDATED)",
    hint="MISS again means the response was not stored: look at its Cache-Control header.",
    observed=again["x_edge_cache"].value_counts().to_dict(),
)
"""),
    code("""
products_again = again[again["path"].str.startswith("/api/products")]
if target == "local":
    results.check(
        "products are fresh hits",
        bool((products_again["x_edge_cache"] == "HIT").all()),
        success=f"product data served without asking the cloud (ttl_s={ttl_s})",
        hint="With ttl_s > 0 the policy file makes /api/products fresh at the edge; "
        "with ttl_s = 0 every request is revalidated.",
        observed=products_again["x_edge_cache"].value_counts().to_dict(),
    )
else:
    results.skip("products are fresh hits", "cluster: the deployed edge policy decides")
hits = via_edge[via_edge["x_edge_cache"] == "HIT"]["latency_ms"]
cloud = browsing[browsing["via"] == "cloud"]["latency_ms"]
if wan_latency_ms > 0 and len(hits):
    results.record("hit_median_ms", hits.median())
    results.record("cloud_median_ms", cloud.median())
    results.check(
        "hits faster than the WAN",
        hits.median() < cloud.median(),
        success=f"hit median {hits.median():.1f} ms vs cloud {cloud.median():.1f} ms",
        hint="A fresh hit never crosses the WAN; if it is slow the machine is overloaded.",
        observed={"hit_ms": hits.median(), "cloud_ms": cloud.median()},
    )
else:
    results.skip("hits faster than the WAN", "no WAN latency added, or no fresh hits")
"""),
    code("""
cloud_etags = browsing[browsing["via"] == "cloud"].set_index("path")["etag"]
edge_etags = first.set_index("path")["etag"]
same = [p for p in paths if edge_etags.get(p) and edge_etags.get(p) == cloud_etags.get(p)]
results.check(
    "edge serves the cloud's data",
    len(same) == len(paths),
    success="the edge's responses carry the cloud's ETags (same representation)",
    hint="Different ETags: did something change the data while browsing?",
    observed={p: (edge_etags.get(p), cloud_etags.get(p)) for p in paths if p not in same},
)
"""),
    md("""
## Reflection

1. The cloud says `max-age=0` for product data; the edge's policy says `ttl_s`. Who should
   decide how fresh a shop's data must be, and what keeps a long TTL from serving old prices?
2. Why is a `REVALIDATED` response still worth having, even though it waits for the WAN?
3. Which of these URLs would you never let an edge share between clerks, and how does the
   cloud tell the edge so (look at `Cache-Control` in the table)?
"""),
    *summary_cells(),
    *TEARDOWN,
]

# --------------------------------------------------------------------------- 03-disconnection

NB03: list[Cell] = [
    header(
        "03 · Disconnection: keep selling while the WAN is down",
        [
            "Cut a shop's WAN link while clerks keep browsing and selling.",
            "See reads served from the edge (`OFFLINE-HIT`) and writes queued in its outbox (202).",
            "Watch the outbox drain after the link comes back, and verify against the cloud that "
            "every sale was applied exactly once.",
            "Compare with the same workload without an edge cache.",
            "Explain what Kubernetes does to an unreachable node's pods (K3s vs KubeEdge).",
        ],
        "about 15 minutes (the experiment itself: warm-up + outage + recovery, twice).",
        ["Notebooks 01 and 02 passed."],
        "`local` (default) and `cluster` (the link is cut on the edge node by the `link` "
        "playbook through ansible-runner).",
    ),
    md("""
## Why this matters: what Kubernetes does when an edge node is cut off

On plain Kubernetes, and on **K3s**, every node's kubelet reports to the API server. When a
node stops reporting, the node controller marks it `NotReady` / `Unreachable` after about 40 s
and taints it `node.kubernetes.io/unreachable`. Every pod gets a default toleration of
**300 s** for that taint; after that the pods on the node are **evicted** and, for
Deployments, rescheduled elsewhere. For a shop that is exactly wrong: the shop's edge cache
must keep running *in the shop* while the WAN is down, and no other node can take its place.

**KubeEdge** is built for this case: EdgeCore on the edge node keeps the pod specs in a local
SQLite database (MetaManager) and keeps running them while the cloud is unreachable (edge
autonomy); the cloud side does not evict them, and the node re-syncs when it comes back.

So in this lab: outages shorter than 300 s behave the same on both flavors; on K3s a longer
outage evicts the edge-cache pods (the DaemonSet pod comes back only when the node does),
on KubeEdge it does not. The application-level part (serve reads from the cache, queue
writes, replay them exactly once) is the same everywhere; that is what we measure here.
"""),
    md("""
## Parameters

`outage_s` is how long the link stays cut. `max_offline_stale_s` is how long past its
freshness the edge may serve a stored response while offline (the cloud's own
`stale-if-error=604800` also allows a week, and the edge takes the larger of the two).
`outbox_max_entries` bounds the outbox: a full outbox answers `507 Insufficient Storage` and
never evicts a queued sale. Try `outbox_max_entries = 1` and see which checks fail.
`edges = 1` keeps the run short; with `edges = 2` both shops are cut at the same time.
"""),
    code(
        common_params(edges=1)
        + """
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
"""
        + TAIL_PARAMS.format(stem="03-disconnection"),
        "parameters",
    ),
    SETUP_MD,
    code("""
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
"""),
    md("""
## Phase 1 · Start the lab

The edges get this notebook's offline bounds (local target). On a cluster we also note the
edge-cache pods (name, node, uid, restarts) so that we can tell afterwards whether Kubernetes
replaced them during the outage.

*What you should see:* every part healthy, every edge online.
"""),
    code("""
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
"""),
    code("""
results.check(
    "lab ready",
    bool(health["healthy"].all()),
    success="cloud, links and edges healthy",
    hint="Run notebook 01 to find the part that is not healthy.",
    observed=health.loc[~health["healthy"], "name"].tolist(),
)
"""),
    md("""
## Phase 2 · Run the experiment

`disconnection()` does, for every shop at once:

1. **warm-up**: browse the catalogue and the shop's stock through the edge, so the cache holds it;
2. **workload** of clerks (browse, look up products and stock; `write_share` of the requests
   sell or receive goods) for
   `warmup_s + outage_s + after_s` seconds; after `warmup_s` the links are cut (`mode`) and
   restored `outage_s` later;
3. **drain**: wait until every edge's outbox is empty (at most `drain_timeout_s`);
4. **verify** against the cloud: every write the shop accepted is there exactly once (no
   loss, no duplicate), and the stock balances add up;
5. **baseline**: the same workload sent directly to the cloud through the same links, no cache.

*What you should see:* progress bars for the phases (tens of seconds). Then a summary.
"""),
    code("""
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
"""),
    md("""
## Phase 3 · Reads during the outage

While the link was cut, the edge could not reach the cloud. The prober noticed within about a
second and switched the edge to OFFLINE; from then on every read was answered from the store
(`X-Edge-Cache: OFFLINE-HIT`, with an `Age` header) without waiting for the cloud, as long as
the stored copy was younger than `max_offline_stale_s`.

*What you should see:* almost every read succeeded during the outage; a few may be `503`
for URLs that were never cached.
"""),
    code("""
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
"""),
    md("""
## Phase 4 · Writes: queued, replayed, applied exactly once

Every sale or receipt the shop made during the outage went into the edge's **outbox**
(SQLite, fsynced before the clerk got `202 Accepted`). When the link came back, the edge
replayed the outbox in order, with each write's `Idempotency-Key`, so a replay that the cloud
had already applied (say, the answer was lost on the way back) is not applied twice.

*What you should see:* every write during the outage accepted (202), the outboxes drained
within seconds of the link coming back, and the verification passed: each accepted write
applied exactly once, balances consistent.
"""),
    code("""
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
"""),
    md("""
## Phase 5 · The same shop without an edge cache

The baseline sent the same kind of workload straight to the cloud through the same links.

*What you should see:* during the outage almost every request failed: without a local copy
and a local queue, a cut WAN means a closed shop.
"""),
    code("""
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
"""),
    md("""
## Phase 6 · Did Kubernetes touch the edge pods? (cluster target only)

*What you should see:* for an outage shorter than 300 s, the same edge-cache pods (same uid)
with no new restarts, on K3s and on KubeEdge. Rerun with `outage_s = 360` on each flavor and
compare: on K3s the pods on the cut node are evicted after the 300 s toleration, on KubeEdge
they keep running.
"""),
    code("""
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
"""),
    md("""
## Plots

`run.save()` wrote the tables (`requests.csv`, `outbox.csv`, `writes.csv`, `summary.json`)
and these figures into `results_dir`: the request timeline with the outage shaded, the outbox
depth over time, and latency distributions by cache status.
"""),
    code("""
for plot in run.plots:
    print(plot.name)
    display(Image(filename=str(plot)))
"""),
    md("""
## Reflection

1. Which reads failed during the outage, and why? What would you cache on purpose before
   closing time if you expected a long outage?
2. A sale replayed after the outage would drive stock below zero in the cloud. The cloud
   accepts it and flags it for review instead of rejecting it. Why is rejecting it wrong?
3. The outbox answers `507` when full instead of dropping the oldest write. Why?
4. Your shops run on K3s agents and the WAN is down for 10 minutes. What happens to the
   edge-cache pods at minute 5, and what would you change: KubeEdge, or tolerations?
"""),
    *summary_cells(),
    *TEARDOWN,
]

# --------------------------------------------------------------------------- 04-cache-performance

NB04: list[Cell] = [
    header(
        "04 · Cache performance: hit ratio and latency",
        [
            "Measure the hit ratio of an edge cache against cache size, popularity skew and TTL.",
            "Compare it with Che's approximation for an LRU cache under Zipf popularity.",
            "See what a fresh hit saves compared with the WAN round trip.",
            "Optionally compare the sidecar with nginx `proxy_cache` (`compare_nginx = True`).",
        ],
        "about 15 minutes (the sweep restarts the edge once per grid point).",
        ["Notebooks 01 and 02 passed."],
        "`local` (the sweep restarts an edge cache with new settings for every point). On "
        "`cluster` the notebook shows the analytic curves only.",
    ),
    md("""
## Parameters

The sweep runs every combination of `ttl_s × cache_sizes × zipf_s × wan_latency_ms`, so keep
the lists short. `zipf_s` is the popularity skew: with s = 0 every product is equally
popular; with s ≈ 1 a few products get most of the requests.
"""),
    code(
        common_params(edges=1)
        + """
ttl_s = [0, 300]  # freshness lifetimes (s) the edge gives product data
cache_sizes = [10, 60]  # cache capacity in entries (the catalogue has a few hundred)
zipf_s = [1.0]  # popularity skews
wan_latency_ms = [20]  # one-way WAN delays (ms)
requests_per_point = 200  # measured requests per grid point
warmup_requests = 100  # requests that fill the cache first (not counted)
tolerance = 0.05  # least allowed |measured - LRU model| (the band widens with sampling noise)
concurrency = 8  # concurrent clients during the sweep
compare_nginx = False  # also run `edgelab bench --quick` (nginx beside the sidecar)
"""
        + TAIL_PARAMS.format(stem="04-cache-performance"),
        "parameters",
    ),
    SETUP_MD,
    code("""
from edgelab.experiments import cache_sweep
from edgelab.labcheck import Results, performance
from edgelab.labcheck import walkthrough as steps
from IPython.display import Image, display

results = Results(results_dir, notebook="04-cache-performance", cleanup=cleanup)
results.record(
    "parameters",
    {"target": target, "ttl_s": ttl_s, "cache_sizes": cache_sizes, "zipf_s": zipf_s,
     "wan_latency_ms": wan_latency_ms, "seed": seed},
)
print(f"results: {results.dir}")
"""),
    md("""
## Phase 1 · Start one shop

The sweep needs only one edge; it restarts that edge cache with an empty store, the point's
cache size and a policy file with the point's TTL, and sets the point's WAN delay on its
link.
"""),
    code("""
if target == "local":
    lab = steps.open_target("local", lab_dir=lab_dir, edges=edges)
    steps.start(results, lab)
    health = steps.wait_online(lab, timeout_s=30)
    results.check(
        "lab ready",
        bool(health["healthy"].all()),
        success="cloud, link and edge healthy",
        hint="Run notebook 01 to find the part that is not healthy.",
    )
else:
    lab = None
    results.skip("lab ready", "cluster: the sweep runs on the local target only")
"""),
    md("""
## Phase 2 · Theory first: Che's approximation

Requests for product *i* arrive independently with probability pᵢ ∝ 1/iˢ (bounded Zipf over
the N products). An LRU cache of C entries behaves, to a very good approximation, as if
every item stayed in the cache for the same *characteristic time* T after its last request,
where T solves Σᵢ (1 − e^(−pᵢT)) = C. The hit ratio is then Σᵢ pᵢ (1 − e^(−pᵢT)).

*What you should see:* the hit ratio rises steeply for small caches when s is large (a few
products carry most of the traffic), and slowly when s is small.
"""),
    code("""
n_items = steps.catalogue_size(lab) if lab is not None else 300  # 300: the demo catalogue
curves = performance.che_table(cache_sizes, zipf_s, n_items=n_items)
steps.save_table(results, "che", curves)
fig = performance.che_figure(curves)
performance.save(fig, results.file("che.png"))
fig
"""),
    md("""
## Phase 3 · The sweep

For every grid point: restart the edge (empty cache), send `warmup_requests` product reads
(bounded Zipf over the real catalogue, seeded), then `requests_per_point` measured reads.
`hit_ratio` counts fresh hits only (`X-Edge-Cache: HIT`: no contact with the cloud).

*What you should see:* with `ttl_s = 0` no fresh hits at all: every request is revalidated
with the cloud (`REVALIDATED`), so it always pays the WAN round trip. With a TTL, the hit
ratio grows with the cache size and with the skew, close to the dashed Che curves.
"""),
    code("""
if lab is not None:
    sweep = cache_sweep(
        lab, ttls=ttl_s, cache_sizes=cache_sizes, zipf_s=zipf_s,
        wan_latency_ms=wan_latency_ms, requests_per_point=requests_per_point,
        warmup_requests=warmup_requests, concurrency=concurrency, seed=seed,
    )
    sweep.save(results.dir)
    table = sweep.table
    results.record("sweep", table)
    display(table[["ttl_s", "cache_size", "zipf_s", "wan_latency_ms", "hit_ratio",
                   "che_hit_ratio", "latency_p50_ms", "direct_latency_p50_ms"]])
else:
    sweep, table = None, None
"""),
    md("""
## Phase 4 · Checks against the theory

Che's formula describes the *steady state*: a cache that has seen requests forever. Our run
is short (`warmup_requests` + `requests_per_point`), so the first request for many products
is still a cold miss, and a larger cache needs longer to fill. For a fair test we also
simulate an exact LRU cache over a run of the same length, many times with different seeds:
the measured hit ratio must fall within the spread of those simulations (at least
± `tolerance`). The gap to Che's steady state is shown too.

*What you should see:* no fresh hits with `ttl_s = 0`; with a TTL the hit ratio grows with
the cache size, sits inside the LRU band, and a bit below the Che curve for the large cache.
"""),
    code("""
if table is not None:
    verdict = results.record(
        "comparison",
        performance.compare(table, tolerance, requests=sweep.requests, warmup=warmup_requests),
    )
    display(performance.model_table(verdict))
    results.check(
        "TTL 0 gives no fresh hits",
        verdict["ttl0_max_hit_ratio"] is None or verdict["ttl0_max_hit_ratio"] == 0,
        success="max-age=0 data is always revalidated",
        hint="A HIT with ttl 0 means the policy file was not applied to the edge.",
        observed=verdict["ttl0_max_hit_ratio"],
    )
    results.check(
        "hit ratio grows with cache size",
        verdict["monotone"],
        success="bigger caches never hit less (within 0.03)",
        hint="Too few requests per point make the curve noisy: raise requests_per_point.",
        observed=verdict["drops"],
    )
    results.check(
        "matches an LRU cache",
        verdict["matches_lru"],
        success="every TTL > 0 point is within the band of an exact LRU simulation of the "
        f"same length; largest gap to Che's steady state: {verdict['che_max_abs_error']:.3f}",
        hint="Compare the model column: a measured ratio far below means the edge evicted "
        "more than LRU would (is EDGE_CACHE_MAX_ENTRIES the cache size?).",
        observed=[m for m in verdict["model"] if not m["within"]],
    )
    results.check(
        "hits faster than the WAN",
        verdict["hit_faster_than_direct"],
        success="a fresh hit is answered faster than the median request over the WAN",
        hint="With wan_latency_ms = 0 there is nothing to save.",
        observed=verdict["latency_pairs"],
    )
else:
    for name in ("TTL 0 gives no fresh hits", "hit ratio grows with cache size",
                 "matches an LRU cache", "hits faster than the WAN"):
        results.skip(name, "cluster: no sweep")
"""),
    code("""
if sweep is not None:
    for plot in sweep.plots:
        print(plot.name)
        display(Image(filename=str(plot)))
"""),
    md("""
## Phase 5 · Beside nginx (optional)

`edgelab bench --quick` measures the sidecar and Debian's nginx with `proxy_cache` on the same
origin: cache-hit throughput and latency, behaviour with the origin blackholed, queued
writes. nginx has no outbox: it can serve stale reads (`proxy_cache_use_stale`) but it cannot
accept a sale while the cloud is unreachable. It takes a few minutes; set
`compare_nginx = True` to run it.
"""),
    code("""
if compare_nginx:
    bench = results.record("bench", performance.nginx_comparison(results.file("bench")))
    display(bench["table"])
    results.check(
        "benchmark ran",
        bench["rows"] > 0 and not bench["failed"],
        success=f"{bench['rows']} measurements" + (" (nginx skipped)" if bench["skipped"] else ""),
        hint="See results_dir/bench for the logs; nginx is skipped when it is not installed "
        "(that alone is not a failure).",
        observed=bench["failed"] or bench["skipped"],
    )
else:
    results.skip("benchmark ran", "compare_nginx = False")
"""),
    md("""
## Reflection

1. Why does `ttl_s = 0` give no fresh hits even with a large cache, and what does the edge
   still save in that case?
2. Where does the measured curve leave the Che curve, and why might a real cache differ from
   the model (warm-up, request order, coalescing, the TTL)?
3. Your shop's catalogue grows from 300 to 30,000 products with the same skew. How big must
   the cache be for the same hit ratio?
"""),
    *summary_cells(),
    *TEARDOWN,
]

NOTEBOOKS = {
    "01-install": NB01,
    "02-deploy": NB02,
    "03-disconnection": NB03,
    "04-cache-performance": NB04,
}


def build(cells: list[Cell]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, source, tags) in enumerate(cells):
        cell = (
            nbformat.v4.new_code_cell(source)
            if kind == "code"
            else nbformat.v4.new_markdown_cell(source)
        )
        cell.id = f"c{i:02d}"
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    return nb


def render(stem: str) -> str:
    return nbformat.writes(build(NOTEBOOKS[stem])) + "\n"


def main() -> int:
    for stem in NOTEBOOKS:
        (HERE / f"{stem}.ipynb").write_text(render(stem), "utf-8")
        print(f"wrote notebooks/{stem}.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
