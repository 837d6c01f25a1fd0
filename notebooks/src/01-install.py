# %% build="skip"
from edgelab.labcheck.i18n import _

# %% [markdown] id="c00"
# # 01 · Install and verify the lab
#
# **Learning goals**
#
# - Name the three parts of EdgeLab (cloud app, edge caches, WAN links) and where each runs.
# - Bring the local lab up, or connect to the class cluster, and verify every part.
# - Read a Kubernetes node table: Ready, roles, versions, the edge label.
# - Measure a first round trip to each part.
#
# **Time budget:** about 10 minutes (local: the first start takes ~30 s while demo data is loaded).
#
# **Prerequisites**
#
# - `make setup` has run (it installs the lab kit and registers this notebook's kernel).
# - Cluster target only: the instructor ran `playbooks/site.yml`; you have the kubeconfig it wrote
#   (`build/kubeconfig`) and can reach the cloud node.
#
# **Targets:** `local` (default) and `cluster` (K3s or KubeEdge).
#
# Run the cells from top to bottom (*Run → Run All Cells* works too). Each phase says what you
# should see, does one thing, and then checks it: a ✔ line means the check passed, a ✘ line comes
# with a hint.

# %% [markdown] id="c01"
# ## Parameters
#
# This cell is tagged `parameters`: `edgelab check -p name value` replaces these values when the
# notebook runs headless. Change them here when you work interactively.

# %% tags=["parameters"] id="c02"
target = "local"  # "local": every part is a process on this machine; "cluster": K3s/KubeEdge
kubeconfig = None  # cluster: kubeconfig path (None: $KUBECONFIG, then ~/.kube/config)
inventory = "../playbooks/inventory/lab-vms.yml"  # cluster: the Ansible inventory
lab_dir = "../build/lab/local"  # local: data, logs and pid files of the lab's processes
edges = 2  # local: how many edge caches (shops) to start
seed = 42  # seeds every random choice, so a rerun sends the same requests

probes = 10  # health requests per part in phase 4

results_dir = "../build/lab/notebooks/01-install"  # results.json, CSV and PNG files
cleanup = True  # stop what this notebook started at the end, also after an error

# %% [markdown] id="c03"
# ## Set-up
#
# The next cell loads the lab kit and opens this notebook's results file. Every value we
# measure and every check is written to `results.json` in `results_dir` at once, so that
# `edgelab check` (and your instructor) can read them even if a later cell fails. Whatever
# this notebook starts is registered for teardown right away: it is stopped at the end, and
# also when the kernel stops after an error.

# %% id="c04"
from edgelab.labcheck import Results, cluster, figures
from edgelab.labcheck import walkthrough as steps
from IPython.display import display

results = Results(results_dir, notebook="01-install", cleanup=cleanup)
results.record("parameters", {"target": target, "edges": edges, "seed": seed})
print(f"results: {results.dir}")

# %% [markdown] id="c05"
# ## Phase 1 · Bring the lab up
#
# **Local target.** `LocalTarget` starts real processes: the cloud app (`inventory-app`, the
# system of record, on SQLite), one link emulator per shop (a TCP proxy that plays the WAN: we
# can slow it down or cut it), and one edge cache per shop (`edge-cache`, the sidecar that
# keeps the shop working when the WAN is down). Each edge reaches the cloud *only* through its
# link.
#
# **Cluster target.** Nothing is started: the notebook checks that the Kubernetes API answers
# and finds the app and the edge caches the instructor deployed.
#
# *What you should see:* the cloud's URL and one URL per edge. The first local start loads
# three weeks of demo sales, so it takes longer than the next ones.

# %% id="c06"
lab = steps.open_target(
    target, lab_dir=lab_dir, edges=edges, kubeconfig=kubeconfig, inventory=inventory
)
steps.start(results, lab)
endpoints = results.record("endpoints", lab.endpoints())
endpoints

# %% id="c07"
results.check(
    "lab is up",
    len(endpoints.edges) > 0,
    success=f"cloud at {endpoints.cloud}; edges: {', '.join(endpoints.edges)}",
    hint="Read the error above. Locally, `edgelab status` and the logs in lab_dir/logs name "
    "the part that did not start; `edgelab down` clears a crashed earlier run.",
)

# %% [markdown] id="c08"
# ## Phase 2 · Is every part healthy?
#
# We ask each part for its health: the cloud's `/readyz`, each link's control API, and each
# edge's `/_edge/status`.
#
# *What you should see:* one row per part, all `healthy`. The edges say `online` (they can
# reach the cloud through their link) with an empty outbox (`outbox_depth` 0: no writes are
# waiting to be sent to the cloud).

# %% id="c09"
health = steps.wait_online(lab, timeout_s=30)
steps.save_table(results, "health", health)
results.record("health", health)
health

# %% id="c10"
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

# %% [markdown] id="c11"
# ## Phase 3 · The cluster's nodes (cluster target only)
#
# A K3s cluster has one server (role `control-plane`) and agents. In KubeEdge mode the edge
# nodes run **EdgeCore** instead of a kubelet connected to the API server; their version
# string says `kubeedge`. Both flavors label the edge nodes `edgelab.dev/edge=true`: the
# edge-cache DaemonSet runs only there.
#
# *What you should see:* every node `Ready`, at least one edge node, and versions KubeEdge
# v1.23 supports (Kubernetes 1.30–1.32). On the local target there are no nodes: the checks are
# marked skipped (–).

# %% id="c12"
if target == "cluster":
    nodes = steps.cluster_nodes(lab, kubeconfig)
    steps.save_table(results, "nodes", nodes)
    node_summary = results.record("nodes", cluster.summarize_nodes(nodes))
    display(nodes)
else:
    nodes, node_summary = None, None
    print("local target: every part is a process on this machine, no Kubernetes nodes")

# %% id="c13"
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

# %% [markdown] id="c14"
# ## Phase 4 · First round trips
#
# We send `probes` health requests to every part and time them. Rows named `link-…` go to the
# cloud *through* that edge's WAN link: that is the path an edge's cache misses take.
#
# *What you should see:* on one machine every round trip is around a millisecond; nothing is
# slow yet because the links add no delay. (Notebook 02 adds WAN latency.) On a cluster the
# edge numbers include the network between you and the edge node.

# %% id="c15"
probe_table = steps.probe_parts(lab, n=probes)
steps.save_table(results, "probes", probe_table)
results.record("probe_median_ms", probe_table.groupby("part")["latency_ms"].median())
fig = figures.probe_figure(probe_table)
figures.save(fig, results.file("probes.png"))
fig

# %% id="c16"
failed = probe_table[probe_table["status"] != 200]
results.check(
    "every probe answered",
    failed.empty,
    success=f"{len(probe_table)} health requests, all 200",
    hint="Some part did not answer; rerun phase 2 and read that part's log.",
    observed=sorted(set(failed["part"])),
)

# %% [markdown] id="c17"
# ## Reflection
#
# 1. Which process would you stop to simulate "the shop lost its internet connection"? Why
#    not stop the edge cache itself?
# 2. The edges reach the cloud only through their link. What would change if the edge cache
#    talked to the cloud directly?
# 3. (Cluster) In KubeEdge mode, which component replaces the kubelet's direct connection to
#    the API server, and where does it keep its state while the node is cut off?

# %% [markdown] id="c18"
# ## Summary
#
# The table lists every check of this notebook. `results.json` in `results_dir` holds the same
# table plus every recorded value; `edgelab check` reads it.

# %% id="c19"
results.record("all_checks_passed", results.all_passed)
results.summary()

# %% [markdown] id="c20"
# ## Teardown
#
# Stops what this notebook started (on the local target: the lab's processes; their data and
# logs stay in `lab_dir`). Safe to run twice, and safe after a failed cell. On a cluster
# nothing is removed: the instructor owns it. Set `cleanup = False` to keep the lab running
# after the notebook (then run `edgelab down` yourself).

# %% tags=["teardown"] id="c21"
results.teardown()
