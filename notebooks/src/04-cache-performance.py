# %% build="skip"
from edgelab.notebook.i18n import _

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
# Run the cells from top to bottom. Before the sweep you write down a **prediction**; after it,
# *What you should see* and the checks tell you what happened, and you **explain** it at the
# end. A ✔ line means a check passed, a ✘ line comes with a hint.

# %% [markdown] id="c00" lang="zh-CN"
# # 04 · 缓存性能：命中率与延迟
#
# **学习目标**
#
# - 测量边缘缓存的命中率与缓存大小、流行度偏斜和 TTL 的关系。
# - 将其与 Zipf 流行度下 LRU 缓存的 Che 近似比较。
# - 看到新鲜命中比广域网往返节省了多少。
# - 可选：将边车与 nginx `proxy_cache` 比较（`compare_nginx = True`）。
#
# **时间预算：** 约 15 分钟（扫描在每个网格点重启一次边缘）。
#
# **前提条件**
#
# - 已通过笔记本 01 和 02。
#
# **运行环境：** `local`（扫描在每个点用新的设置重启边缘缓存）。在 `cluster` 上笔记本只显示
# 解析曲线。
#
# 从上到下运行各单元格。扫描之前先写下**预测**；扫描之后，*你应当看到* 和各项检查会告诉你
# 发生了什么，最后**解释**。✔ 表示检查通过，✘ 会附带提示。

# %% [markdown] id="c01"
# ## Parameters
#
# The sweep runs every combination of `ttl_s × cache_sizes × zipf_s × wan_latency_ms`, so keep
# the lists short. `zipf_s` is the popularity skew: with s = 0 every product is equally
# popular; with s ≈ 1 a few products get most of the requests.

# %% [markdown] id="c01" lang="zh-CN"
# ## 参数
#
# 扫描会运行 `ttl_s × cache_sizes × zipf_s × wan_latency_ms` 的每种组合，所以列表要短。
# `zipf_s` 是流行度偏斜：s = 0 时每种商品同样受欢迎；s ≈ 1 时少数商品获得大部分请求。

# %% tags=["parameters"] id="c02"
target = "local"  # "local": every part is a process on this machine; "cluster": K3s/KubeEdge
kubeconfig = None  # cluster: kubeconfig path (None: $KUBECONFIG, then ~/.kube/config)
inventory = "../playbooks/inventory/lab-vms.yml"  # cluster: the Ansible inventory
lab_dir = "../build/lab/local"  # local: data, logs and pid files of the lab's processes
edges = 1  # local: how many edge caches (shops) to start
seed = 42  # seeds every random choice, so a rerun sends the same requests

ttl_s = [0, 300]  # freshness lifetimes (s) the edge gives product data
cache_sizes = [5, 20, 60, 150]  # cache capacity in entries (the catalogue has a few hundred)
zipf_s = [1.0]  # popularity skews
wan_latency_ms = [20]  # one-way WAN delays (ms)
requests_per_point = 200  # measured requests per grid point
warmup_requests = 100  # requests that fill the cache first (not counted)
tolerance = 0.05  # extra margin on each side of the derived LRU band
wan_loss = 0.0  # packet-loss fraction on the WAN link (0..0.99)
concurrency = 8  # concurrent clients during the sweep
compare_nginx = False  # also run `edgelab bench --quick` (nginx beside the sidecar)

results_dir = "../build/lab/notebooks/04-cache-performance"  # results.json, CSV and PNG files
cleanup = True  # stop what this notebook started at the end, also after an error

# %% [markdown] id="c03"
# ## Set-up
#
# The next cell loads the lab kit and opens this notebook's results file. Every value we
# measure and every check is written to `results.json` in `results_dir` at once. Whatever
# this notebook starts is registered for teardown right away: it is stopped at the end, and
# also when the kernel stops after an error.

# %% [markdown] id="c03" lang="zh-CN"
# ## 准备
#
# 下一个单元格加载实验工具包并打开本笔记本的结果文件。每个测量值和每项检查都会立即写入
# `results_dir` 中的 `results.json`。本笔记本启动的一切都会立刻登记清理：结束时停止，
# 出错导致内核停止时也会停止。

# %% id="c04"
from edgelab.experiments import cache_sweep
from edgelab.notebook import Results, answers, performance
from edgelab.notebook import walkthrough as steps
from IPython.display import Image, display

from edgelab import plots

lang = _("en", zh="zh-CN")
plots.set_language(lang)
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

# %% [markdown] id="c05" lang="zh-CN"
# ## 阶段 1 · 启动一家门店
#
# 扫描只需要一个边缘；它用空的存储、该点的缓存大小和带该点 TTL 的策略文件重启这个边缘缓存，
# 并在它的链路上设置该点的广域网延迟。

# %% id="c06"
if target == "local":
    lab = steps.open_target("local", lab_dir=lab_dir, edges=edges)
    steps.start(results, lab)
    health = steps.wait_online(lab, timeout_s=30)
    results.check(
        "lab ready",
        bool(health["healthy"].all()),
        success=_("cloud, link and edge healthy", zh="云端、链路和边缘缓存均健康"),
        hint=_("Run notebook 01 to find the part that is not healthy.",
               zh="运行笔记本 01，找出不健康的部分。"),
    )
else:
    lab = None
    results.skip("lab ready", _("cluster: the sweep runs on the local target only",
                                zh="集群：扫描只在本地运行环境中运行"))

# %% [markdown] id="c07"
# ## Phase 2 · Theory first: Che's approximation
#
# Requests for product *i* arrive independently with probability pᵢ ∝ 1/iˢ (bounded Zipf over
# the N products). An LRU cache of C entries behaves, to a very good approximation, as if
# every item stayed in the cache for the same *characteristic time* T after its last request,
# where T solves Σᵢ (1 − e^(−pᵢT)) = C. The hit ratio is then Σᵢ pᵢ (1 − e^(−pᵢT)).
#
# The next cell draws these curves for your parameters.

# %% [markdown] id="c07" lang="zh-CN"
# ## 阶段 2 · 先看理论：Che 近似
#
# 对商品 *i* 的请求相互独立，概率 pᵢ ∝ 1/iˢ（N 种商品上的有界 Zipf 分布）。容量为 C 的 LRU
# 缓存可以很好地近似为：每个条目在最后一次被请求后都在缓存中停留同样的*特征时间* T，其中
# T 满足 Σᵢ (1 − e^(−pᵢT)) = C。命中率则为 Σᵢ pᵢ (1 − e^(−pᵢT))。
#
# 下一个单元格按你的参数画出这些曲线。

# %% id="c08"
n_items = steps.catalogue_size(lab) if lab is not None else 300  # 300: the demo catalogue
curves = performance.che_table(cache_sizes, zipf_s, n_items=n_items)
steps.save_table(results, "che", curves)
fig = plots.che_figure(curves, results.file("che.png"))
fig

# %% [markdown] id="e1"
# ## Exercise (graded) · Che's approximation yourself
#
# Complete `che_hit_ratio(n_items, cache_size, s)`: the LRU hit ratio from Che's
# approximation, with pᵢ = i^(−s) / Σⱼ j^(−s) for i = 1 … `n_items`. Find the characteristic
# time T with Σᵢ (1 − e^(−pᵢT)) = `cache_size` (the left side grows with T: bisection works),
# then return Σᵢ pᵢ (1 − e^(−pᵢT)). numpy, scipy and math are allowed; `edgelab` is not.
# The next cell compares your function with `edgelab.analysis` for N = 300, C = 10, s = 1;
# `edgelab check` also tries two cases you do not see (± 0.005).

# %% [markdown] id="e1" lang="zh-CN"
# ## 练习（计分）· 自己实现 Che 近似
#
# 完成 `che_hit_ratio(n_items, cache_size, s)`：用 Che 近似计算 LRU 的命中率，其中
# pᵢ = i^(−s) / Σⱼ j^(−s)，i = 1 … `n_items`。先求特征时间 T，使 Σᵢ (1 − e^(−pᵢT)) =
# `cache_size`（左边随 T 单调增长：可以用二分法），再返回 Σᵢ pᵢ (1 − e^(−pᵢT))。可以使用
# numpy、scipy 和 math，不能使用 `edgelab`。下一个单元格用 N = 300、C = 10、s = 1 把你的函数
# 与 `edgelab.analysis` 比较；`edgelab check` 还会测试两个你看不到的情况（± 0.005）。

# %% id="e2" answer="exercise"
import numpy as np


def che_hit_ratio(n_items: int, cache_size: int, s: float) -> float:
    weights = 1.0 / np.arange(1, n_items + 1) ** s  # popularity of rank 1..N, not normalised
    # your code: p = weights normalised; T with sum(1 - exp(-p T)) = cache_size; the hit ratio
    return 0.0 * float(weights.sum())

# %% id="e2" solution=true
import numpy as np  # noqa: F811


def che_hit_ratio(n_items: int, cache_size: int, s: float) -> float:  # noqa: F811
    p = 1.0 / np.arange(1, n_items + 1) ** s
    p /= p.sum()
    low, high = 0.0, 1.0
    while np.sum(1 - np.exp(-p * high)) < cache_size:
        high *= 2
    for _step in range(200):
        middle = (low + high) / 2
        if np.sum(1 - np.exp(-p * middle)) < cache_size:
            low = middle
        else:
            high = middle
    t = (low + high) / 2
    return float(np.sum(p * (1 - np.exp(-p * t))))

# %% id="e3"
from edgelab.analysis.che import che_hit_ratio as reference_che

answers.exercise(
    results, "exercise: Che's approximation", globals().get("che_hit_ratio"), (300, 10, 1.0),
    reference_che(300, 10, 1.0), tolerance=0.005, lang=lang,
    success=_("your che_hit_ratio(300, 10, 1) = {got}, as edgelab.analysis",
              zh="你的 che_hit_ratio(300, 10, 1) = {got}，与 edgelab.analysis 一致"),
    hint=_("Normalise p first; bisect T between 0 and a value where the sum exceeds C.",
           zh="先把 p 归一化；在 0 和使总和超过 C 的值之间对 T 二分。"),
)

# %% [markdown] id="p0"
# ## Your prediction
#
# Before the sweep, read the Che curve above and write down in the next cell the hit ratio you
# expect to **measure** for the largest cache with a TTL (`predicted_hit_ratio`, 0 to 1), and
# for `ttl_s = 0` (`predicted_hit_ratio_ttl0`). Our run is short: will the measurement be
# above, on or below the curve?

# %% [markdown] id="p0" lang="zh-CN"
# ## 你的预测
#
# 扫描之前，先读上面的 Che 曲线，在下一个单元格中写下你预计对有 TTL 的最大缓存会**测到**
# 的命中率（`predicted_hit_ratio`，0 到 1），以及 `ttl_s = 0` 时的命中率
# （`predicted_hit_ratio_ttl0`）。我们的运行时间很短：测量值会在曲线之上、曲线上还是曲线之下？

# %% id="p1" answer="prediction"
predicted_hit_ratio = None  # largest cache, TTL > 0
predicted_hit_ratio_ttl0 = None  # any cache, ttl_s = 0

# %% id="p1" solution=true
predicted_hit_ratio = 0.5  # a bit below Che's steady state: the run starts cold
predicted_hit_ratio_ttl0 = 0.0  # max-age=0: every request is revalidated

# %% id="p2"
answers.predict(results, lang=lang, hit_ratio=predicted_hit_ratio,
                hit_ratio_ttl0=predicted_hit_ratio_ttl0)

# %% [markdown] id="c09"
# ## Phase 3 · The sweep
#
# For every grid point: restart the edge (empty cache), send `warmup_requests` product reads
# (bounded Zipf over the real catalogue, seeded), then `requests_per_point` measured reads.
# `hit_ratio` counts fresh hits only (`X-Edge-Cache: HIT`: no contact with the cloud).

# %% [markdown] id="c09" lang="zh-CN"
# ## 阶段 3 · 扫描
#
# 对每个网格点：重启边缘（空缓存），发送 `warmup_requests` 个商品读请求（在真实目录上的
# 有界 Zipf 分布，固定种子），然后发送 `requests_per_point` 个被测量的读请求。
# `hit_ratio` 只统计新鲜命中（`X-Edge-Cache: HIT`：完全不联系云端）。

# %% id="c10" tags=["raw-data"]
if lab is not None:
    sweep = cache_sweep(
        lab, ttls=ttl_s, cache_sizes=cache_sizes, zipf_s=zipf_s,
        wan_latency_ms=wan_latency_ms, requests_per_point=requests_per_point,
        warmup_requests=warmup_requests, concurrency=concurrency, seed=seed,
        wan_loss=wan_loss,
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
# is still a cold miss, and a larger cache needs longer to fill. For a fair test the measured
# HIT ratio is compared with the same requests replayed through an exact LRU cache with the
# run's concurrency (a request for a key whose fetch is still in flight waits for it and is
# answered MISS: `coalesced`); the band (± `tolerance`) comes from that replay. `lru_replay` is
# the one-client LRU that Che approximates; the gap to Che's steady state is shown too.
#
# *What you should see:* with `ttl_s = 0` no fresh hits at all: every request is revalidated
# with the cloud (`REVALIDATED`), so it always pays the WAN round trip. With a TTL the hit
# ratio grows with the cache size and the skew, sits inside the LRU band, and a bit below the
# Che curve for the large cache.

# %% [markdown] id="c11" lang="zh-CN"
# ## 阶段 4 · 对照理论检查
#
# Che 公式描述的是*稳态*：一个已经接收了无限多请求的缓存。我们的运行很短
# （`warmup_requests` + `requests_per_point`），许多商品的第一次请求仍是冷未命中，而且更大的
# 缓存需要更长时间才能填满。为了公平，测得的 HIT 比例会与把同样的请求按本次运行的并发度
# 重放到一个精确 LRU 缓存中的结果比较（请求的键若正在获取中，会等待它并被记为 MISS：
# `coalesced`）；范围（± `tolerance`）来自这次重放。`lru_replay` 是 Che 所近似的单客户端
# LRU；与 Che 稳态的差距也会显示出来。
#
# *你应当看到：* `ttl_s = 0` 时完全没有新鲜命中：每个请求都要向云端重新验证
# （`REVALIDATED`），所以总要付出广域网往返。有 TTL 时，命中率随缓存大小和偏斜增长，落在
# LRU 范围内，大缓存的命中率略低于 Che 曲线。

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
        success=_("max-age=0 data is always revalidated", zh="max-age=0 的数据总是被重新验证"),
        hint=_("A HIT with ttl 0 means the policy file was not applied to the edge.",
               zh="ttl 为 0 时出现 HIT，说明策略文件没有应用到边缘。"),
        observed=verdict["ttl0_max_hit_ratio"],
    )
    results.check(
        "hit ratio grows with cache size",
        verdict["monotone"],
        success=_("bigger caches never hit less (within 0.03)",
                  zh="更大的缓存命中率从不更低（误差 0.03 以内）"),
        hint=_("Too few requests per point make the curve noisy: raise requests_per_point.",
               zh="每点请求太少会让曲线抖动：增大 requests_per_point。"),
        observed=verdict["drops"],
    )
    results.check(
        "matches an LRU cache",
        verdict["matches_lru"],
        success=_("every TTL > 0 point lies in the band of an exact LRU replay of its own "
                  "requests (coalesced misses included); largest gap to Che's steady state: "
                  f"{verdict['che_max_abs_error']:.3f}",
                  zh="每个 TTL > 0 的点都落在用它自己的请求重放的精确 LRU 范围内"
                  f"（含合并的未命中）；与 Che 稳态的最大差距：{verdict['che_max_abs_error']:.3f}"),
        hint=_("Read the model columns: measured ≈ fifo_replay (and below lru_replay) means "
               "hits do not refresh recency (the edge evicts in insertion order, not LRU); "
               "measured far below edge_replay with many errors means failed requests, not "
               "eviction; a measured ratio above band_high means the edge held more entries "
               "than cache_size. Check the edge log (<lab_dir>/logs/shop-1.log) for evictions "
               "and store errors.",
               zh="看模型表的各列：measured ≈ fifo_replay（且低于 lru_replay）说明命中没有刷新"
               "最近使用顺序（边缘按写入顺序淘汰，不是 LRU）；measured 远低于 edge_replay 且"
               "errors 很多，说明是请求失败，不是淘汰；measured 高于 band_high 说明边缘保存的"
               "条目多于 cache_size。到边缘日志（<lab_dir>/logs/shop-1.log）里"
               "查找淘汰和存储错误。"),
        observed=[m for m in verdict["model"] if not m["within"]],
    )
    results.check(
        "hits faster than the WAN",
        verdict["hit_faster_than_direct"],
        success=_("a fresh hit is answered faster than the median request over the WAN",
                  zh="新鲜命中的应答比经广域网请求的中位数更快"),
        hint=_("With wan_latency_ms = 0 there is nothing to save.",
               zh="wan_latency_ms = 0 时没有可节省的。"),
        observed=verdict["latency_pairs"],
    )
else:
    for name in ("TTL 0 gives no fresh hits", "hit ratio grows with cache size",
                 "matches an LRU cache", "hits faster than the WAN"):
        results.skip(name, _("cluster: no sweep", zh="集群：没有扫描"))
if table is not None:
    positive = table[table["ttl_s"] > 0]
    biggest = positive[positive["cache_size"] == positive["cache_size"].max()]
    answers.compare(results, "hit_ratio", predicted_hit_ratio,
                    float(biggest["hit_ratio"].mean()) if len(biggest) else None, lang=lang)
    ttl0 = table[table["ttl_s"] == 0]
    answers.compare(results, "hit_ratio_ttl0", predicted_hit_ratio_ttl0,
                    float(ttl0["hit_ratio"].max()) if len(ttl0) else None, lang=lang)

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

# %% [markdown] id="c14" lang="zh-CN"
# ## 阶段 5 · 与 nginx 对比（可选）
#
# `edgelab bench --quick` 在同一个源站上测量边车和 Debian 的 nginx（`proxy_cache`）：缓存
# 命中的吞吐量和延迟、源站被黑洞时的行为、排队的写入。nginx 没有发件箱：它可以提供过期的
# 读结果（`proxy_cache_use_stale`），但在云端不可达时无法接受一笔销售。需要几分钟；设置
# `compare_nginx = True` 来运行。

# %% id="c15"
if compare_nginx:
    bench = results.record("bench", performance.nginx_comparison(results.file("bench")))
    display(bench["table"])
    results.check(
        "benchmark ran",
        bench["rows"] > 0 and not bench["failed"],
        success=_(f"{bench['rows']} measurements", zh=f"{bench['rows']} 项测量")
        + (_(" (nginx skipped)", zh="（跳过了 nginx）") if bench["skipped"] else ""),
        hint=_("See results_dir/bench for the logs; nginx is skipped when it is not installed "
               "(that alone is not a failure).",
               zh="日志见 results_dir/bench；未安装 nginx 时会跳过它（这本身不算失败）。"),
        observed=bench["failed"] or bench["skipped"],
    )
else:
    results.skip("benchmark ran", _("compare_nginx = False", zh="compare_nginx = False（未运行）"))

# %% [markdown] id="c16"
# ## Explain
#
# Answer each question in the cell below it (two to four sentences); the answers are collected
# into the report of `edgelab check`.
#
# 1. Why does `ttl_s = 0` give no fresh hits even with a large cache, and what does the edge
#    still save in that case?

# %% [markdown] id="c16" lang="zh-CN"
# ## 解释
#
# 在每个问题下面的单元格中作答（两到四句话）；答案会被收集到 `edgelab check` 的报告中。
#
# 1. 为什么即使缓存很大，`ttl_s = 0` 也没有新鲜命中？这种情况下边缘仍然节省了什么？

# %% [markdown] id="a1" answer="reflection"
# *Your answer:*

# %% [markdown] id="a1" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="q2"
# 2. Compare your predicted hit ratio with the measured one. Where does the measured curve
#    leave the Che curve, and why might a real cache differ from the model (warm-up, request
#    order, coalescing, the TTL)?

# %% [markdown] id="q2" lang="zh-CN"
# 2. 把你预测的命中率与实测值比较。实测曲线在哪里偏离了 Che 曲线？真实的缓存为什么可能与
#    模型不同（预热、请求顺序、请求合并、TTL）？

# %% [markdown] id="a2" answer="reflection"
# *Your answer:*

# %% [markdown] id="a2" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="q3"
# 3. Your shop's catalogue grows from 300 to 30,000 products with the same skew. How big must
#    the cache be for the same hit ratio?

# %% [markdown] id="q3" lang="zh-CN"
# 3. 你的门店目录在偏斜不变的情况下从 300 种增长到 30,000 种商品。要保持同样的命中率，缓存
#    需要多大？

# %% [markdown] id="a3" answer="reflection"
# *Your answer:*

# %% [markdown] id="a3" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="c17"
# ## Summary
#
# The table lists every check of this notebook. `results.json` in `results_dir` holds the same
# table plus every recorded value; `edgelab check` grades from the raw data files instead.

# %% [markdown] id="c17" lang="zh-CN"
# ## 小结
#
# 下表列出本笔记本的所有检查。`results_dir` 中的 `results.json` 包含同样的表格和每个记录的
# 值；`edgelab check` 则根据原始数据文件评分。

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

# %% [markdown] id="c19" lang="zh-CN"
# ## 清理
#
# 停止本笔记本启动的一切（本地运行环境：实验环境的进程；它们的数据和日志保留在 `lab_dir`
# 中）。运行两次是安全的，某个单元格失败后运行也是安全的。在集群上不会删除任何东西：集群
# 归教师管理。设置 `cleanup = False` 可在笔记本结束后保持实验环境运行（之后请自己运行
# `edgelab down`）。

# %% tags=["teardown"] id="c20"
results.teardown()
