# %% build="skip"
from edgelab.labcheck.i18n import _

# %% [markdown] id="c00"
# # 02 · Deploy the app and browse through an edge
#
# **Learning goals**
#
# - Start (or deploy) the inventory app and the edge caches, with demo data.
# - Browse products and stock through a shop's edge cache.
# - Read the cache status headers: `X-Edge-Cache: MISS`, then `HIT` or `REVALIDATED`.
# - Explain why a fresh hit is fast and a revalidation still pays the WAN round trip.
#
# **Time budget:** about 10 minutes.
#
# **Prerequisites**
#
# - Notebook 01 passed (the lab starts and every part is healthy).
#
# **Targets:** `local` (default) and `cluster` (set `deploy = True` to run the deploy playbook
# through ansible-runner; otherwise the instructor's deployment is checked).
#
# Run the cells from top to bottom (*Run → Run All Cells* works too). Each phase says what you
# should see, does one thing, and then checks it: a ✔ line means the check passed, a ✘ line comes
# with a hint.

# %% [markdown] id="c01"
# ## Parameters

# %% tags=["parameters"] id="c02"
target = "local"  # "local": every part is a process on this machine; "cluster": K3s/KubeEdge
kubeconfig = None  # cluster: kubeconfig path (None: $KUBECONFIG, then ~/.kube/config)
inventory = "../playbooks/inventory/lab-vms.yml"  # cluster: the Ansible inventory
lab_dir = "../build/lab/local"  # local: data, logs and pid files of the lab's processes
edges = 2  # local: how many edge caches (shops) to start
seed = 42  # seeds every random choice, so a rerun sends the same requests

edge = "shop-1"  # the shop whose edge cache we browse through
ttl_s = 30  # local: how long the edge may serve /api/products without asking the cloud
wan_latency_ms = 40  # one-way delay added on every WAN link while we browse; 0: none
repeat = 3  # requests per URL through the edge
deploy = False  # cluster: run playbooks/deploy.yml through ansible-runner first

results_dir = "../build/lab/notebooks/02-deploy"  # results.json, CSV and PNG files
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

results = Results(results_dir, notebook="02-deploy", cleanup=cleanup)
results.record(
    "parameters", {"target": target, "edge": edge, "ttl_s": ttl_s, "wan_ms": wan_latency_ms}
)
print(f"results: {results.dir}")

# %% [markdown] id="c05"
# ## Phase 1 · Deploy
#
# **Local target.** We start the lab as in 01, with one change: a *policy file* for the edge
# caches gives `/api/products` a freshness lifetime of `ttl_s` seconds. The cloud itself marks
# its data `Cache-Control: public, max-age=0, stale-if-error=604800`: "always check with me
# when you can reach me, but serve what you have for up to a week when you cannot". The policy
# lets the shop skip that check for product data for `ttl_s` seconds; the cloud's change feed
# evicts a product from the edge as soon as it changes, so the shop does not see stale prices
# for long.
#
# **Cluster target.** With `deploy = True` the notebook runs `playbooks/deploy.yml` through
# ansible-runner (PostgreSQL, the app, an edge-cache DaemonSet on the nodes labelled
# `edgelab.dev/edge=true`). Otherwise it uses what the instructor deployed.
#
# *What you should see:* the same endpoints as in 01, all healthy.

# %% id="c06"
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

# %% id="c07"
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

# %% id="c08"
results.check(
    "app and edges ready",
    bool(health["healthy"].all()) and edge in set(health["name"]),
    success=f"cloud and {', '.join(lab.endpoints().edges)} ready",
    hint=f"Is {edge!r} one of the edges? Read the detail column and the part's log.",
    observed=health.loc[~health["healthy"], "name"].tolist(),
)

# %% [markdown] id="c09"
# ## Phase 2 · Demo data
#
# The cloud holds a small shop chain: a central warehouse and one warehouse per shop, a few
# hundred products in a category tree, suppliers and customers, and three weeks of purchases,
# sales and transfers posted to the stock ledger. Locally `LocalTarget` loads it once per
# `lab_dir`; on a cluster the deploy playbook did.
#
# *What you should see:* a catalogue of a few hundred products.

# %% id="c10"
products = results.record("catalogue_size", steps.catalogue_size(lab))
print(f"{products} products in the catalogue")
results.check(
    "demo data loaded",
    products > 0,
    success=f"{products} products",
    hint="Locally: `edgelab seed`; on a cluster the app role seeds the demo data.",
)

# %% [markdown] id="c11"
# ## Phase 3 · Browse through the edge
#
# We add `wan_latency_ms` of delay to every WAN link (the link emulator holds every packet
# that long in each direction), empty the edge's cache, and then request three URLs
# `repeat` times through the edge, as the shop's clerk: the product list, one product, and
# that product's stock in this shop. After that we request each URL once from the cloud over
# the same WAN link, without a cache.
#
# *What you should see* in the `x_edge_cache` column:
#
# - the first request of every URL is a `MISS`: the edge fetched it from the cloud and stored it;
# - product URLs then say `HIT` with an `Age` header: served from the edge's store, no WAN
#   round trip at all, so they take about a millisecond;
# - the stock URL says `REVALIDATED`: the edge asked the cloud "has this changed?"
#   (`If-None-Match`) and got `304 Not Modified` back, so it paid the WAN round trip but did
#   not transfer the body again.

# %% id="c12"
if wan_latency_ms > 0:
    results.on_teardown(lambda: steps.set_wan_latency(lab, 0), "restore the WAN links")
    steps.set_wan_latency(lab, wan_latency_ms)
steps.purge(lab, edge)
paths = steps.demo_paths(lab, edge)
browsing = steps.browse(lab, edge, paths, repeat=repeat)
steps.save_table(results, "browse", browsing)
results.record("browse", browsing)
browsing[["path", "via", "attempt", "status", "x_edge_cache", "age", "latency_ms"]]

# %% id="c13"
fig = figures.browse_figure(browsing)
figures.save(fig, results.file("browse.png"))
fig

# %% [markdown] id="c14"
# ## Phase 4 · Check what the edge did

# %% id="c15"
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

# %% id="c16"
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

# %% id="c17"
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

# %% [markdown] id="c18"
# ## Reflection
#
# 1. The cloud says `max-age=0` for product data; the edge's policy says `ttl_s`. Who should
#    decide how fresh a shop's data must be, and what keeps a long TTL from serving old prices?
# 2. Why is a `REVALIDATED` response still worth having, even though it waits for the WAN?
# 3. Which of these URLs would you never let an edge share between clerks, and how does the
#    cloud tell the edge so (look at `Cache-Control` in the table)?

# %% [markdown] id="c19"
# ## Summary
#
# The table lists every check of this notebook. `results.json` in `results_dir` holds the same
# table plus every recorded value; `edgelab check` reads it.

# %% id="c20"
results.record("all_checks_passed", results.all_passed)
results.summary()

# %% [markdown] id="c21"
# ## Teardown
#
# Stops what this notebook started (on the local target: the lab's processes; their data and
# logs stay in `lab_dir`). Safe to run twice, and safe after a failed cell. On a cluster
# nothing is removed: the instructor owns it. Set `cleanup = False` to keep the lab running
# after the notebook (then run `edgelab down` yourself).

# %% tags=["teardown"] id="c22"
results.teardown()
