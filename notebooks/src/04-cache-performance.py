# %% build="skip"
from edgelab.labcheck.i18n import _

# %% [markdown] id="c00"
# # 04 · Cache performance: hit ratio and latency
#
# **Learning goals**
#
# - Measure the hit ratio of an edge cache against cache size, popularity skew and TTL.
# - Compare it with Che's approximation for an LRU cache under Zipf popularity.
# - See what a fresh hit saves compared with the WAN round trip.
# - Optionally compare the sidecar with nginx `proxy_cache` (`compare_nginx = True`).
#
# **Time budget:** about 15 minutes (the sweep restarts the edge once per grid point).
#
# **Prerequisites**
#
# - Notebooks 01 and 02 passed.
#
# **Targets:** `local` (the sweep restarts an edge cache with new settings for every point). On
# `cluster` the notebook shows the analytic curves only.
#
# Run the cells from top to bottom (*Run → Run All Cells* works too). Each phase says what you
# should see, does one thing, and then checks it: a ✔ line means the check passed, a ✘ line comes
# with a hint.

# %% [markdown] id="c01"
# ## Parameters
#
# The sweep runs every combination of `ttl_s × cache_sizes × zipf_s × wan_latency_ms`, so keep
# the lists short. `zipf_s` is the popularity skew: with s = 0 every product is equally
# popular; with s ≈ 1 a few products get most of the requests.

# %% tags=["parameters"] id="c02"
target = "local"  # "local": every part is a process on this machine; "cluster": K3s/KubeEdge
kubeconfig = None  # cluster: kubeconfig path (None: $KUBECONFIG, then ~/.kube/config)
inventory = "../playbooks/inventory/lab-vms.yml"  # cluster: the Ansible inventory
lab_dir = "../build/lab/local"  # local: data, logs and pid files of the lab's processes
edges = 1  # local: how many edge caches (shops) to start
seed = 42  # seeds every random choice, so a rerun sends the same requests

ttl_s = [0, 300]  # freshness lifetimes (s) the edge gives product data
cache_sizes = [10, 60]  # cache capacity in entries (the catalogue has a few hundred)
zipf_s = [1.0]  # popularity skews
wan_latency_ms = [20]  # one-way WAN delays (ms)
requests_per_point = 200  # measured requests per grid point
warmup_requests = 100  # requests that fill the cache first (not counted)
tolerance = 0.05  # least allowed |measured - LRU model| (the band widens with sampling noise)
concurrency = 8  # concurrent clients during the sweep
compare_nginx = False  # also run `edgelab bench --quick` (nginx beside the sidecar)

results_dir = "../build/lab/notebooks/04-cache-performance"  # results.json, CSV and PNG files
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

# %% [markdown] id="c05"
# ## Phase 1 · Start one shop
#
# The sweep needs only one edge; it restarts that edge cache with an empty store, the point's
# cache size and a policy file with the point's TTL, and sets the point's WAN delay on its
# link.

# %% id="c06"
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

# %% [markdown] id="c07"
# ## Phase 2 · Theory first: Che's approximation
#
# Requests for product *i* arrive independently with probability pᵢ ∝ 1/iˢ (bounded Zipf over
# the N products). An LRU cache of C entries behaves, to a very good approximation, as if
# every item stayed in the cache for the same *characteristic time* T after its last request,
# where T solves Σᵢ (1 − e^(−pᵢT)) = C. The hit ratio is then Σᵢ pᵢ (1 − e^(−pᵢT)).
#
# *What you should see:* the hit ratio rises steeply for small caches when s is large (a few
# products carry most of the traffic), and slowly when s is small.

# %% id="c08"
n_items = steps.catalogue_size(lab) if lab is not None else 300  # 300: the demo catalogue
curves = performance.che_table(cache_sizes, zipf_s, n_items=n_items)
steps.save_table(results, "che", curves)
fig = performance.che_figure(curves)
performance.save(fig, results.file("che.png"))
fig

# %% [markdown] id="c09"
# ## Phase 3 · The sweep
#
# For every grid point: restart the edge (empty cache), send `warmup_requests` product reads
# (bounded Zipf over the real catalogue, seeded), then `requests_per_point` measured reads.
# `hit_ratio` counts fresh hits only (`X-Edge-Cache: HIT`: no contact with the cloud).
#
# *What you should see:* with `ttl_s = 0` no fresh hits at all: every request is revalidated
# with the cloud (`REVALIDATED`), so it always pays the WAN round trip. With a TTL, the hit
# ratio grows with the cache size and with the skew, close to the dashed Che curves.

# %% id="c10"
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

# %% [markdown] id="c11"
# ## Phase 4 · Checks against the theory
#
# Che's formula describes the *steady state*: a cache that has seen requests forever. Our run
# is short (`warmup_requests` + `requests_per_point`), so the first request for many products
# is still a cold miss, and a larger cache needs longer to fill. For a fair test we also
# simulate an exact LRU cache over a run of the same length, many times with different seeds:
# the measured hit ratio must fall within the spread of those simulations (at least
# ± `tolerance`). The gap to Che's steady state is shown too.
#
# *What you should see:* no fresh hits with `ttl_s = 0`; with a TTL the hit ratio grows with
# the cache size, sits inside the LRU band, and a bit below the Che curve for the large cache.

# %% id="c12"
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

# %% id="c13"
if sweep is not None:
    for plot in sweep.plots:
        print(plot.name)
        display(Image(filename=str(plot)))

# %% [markdown] id="c14"
# ## Phase 5 · Beside nginx (optional)
#
# `edgelab bench --quick` measures the sidecar and Debian's nginx with `proxy_cache` on the same
# origin: cache-hit throughput and latency, behaviour with the origin blackholed, queued
# writes. nginx has no outbox: it can serve stale reads (`proxy_cache_use_stale`) but it cannot
# accept a sale while the cloud is unreachable. It takes a few minutes; set
# `compare_nginx = True` to run it.

# %% id="c15"
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

# %% [markdown] id="c16"
# ## Reflection
#
# 1. Why does `ttl_s = 0` give no fresh hits even with a large cache, and what does the edge
#    still save in that case?
# 2. Where does the measured curve leave the Che curve, and why might a real cache differ from
#    the model (warm-up, request order, coalescing, the TTL)?
# 3. Your shop's catalogue grows from 300 to 30,000 products with the same skew. How big must
#    the cache be for the same hit ratio?

# %% [markdown] id="c17"
# ## Summary
#
# The table lists every check of this notebook. `results.json` in `results_dir` holds the same
# table plus every recorded value; `edgelab check` reads it.

# %% id="c18"
results.record("all_checks_passed", results.all_passed)
results.summary()

# %% [markdown] id="c19"
# ## Teardown
#
# Stops what this notebook started (on the local target: the lab's processes; their data and
# logs stay in `lab_dir`). Safe to run twice, and safe after a failed cell. On a cluster
# nothing is removed: the instructor owns it. Set `cleanup = False` to keep the lab running
# after the notebook (then run `edgelab down` yourself).

# %% tags=["teardown"] id="c20"
results.teardown()
