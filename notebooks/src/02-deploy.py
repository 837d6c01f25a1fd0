# %% build="skip"
from edgelab.notebook.i18n import _

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
# Run the cells from top to bottom. Before the browsing experiment you write down a
# **prediction**; after it, *What you should see* and the checks tell you what happened, and
# you **explain** it in the answer cells at the end. A ✔ line means a check passed, a ✘ line
# comes with a hint.

# %% [markdown] id="c00" lang="zh-CN"
# # 02 · 部署应用并经边缘浏览
#
# **学习目标**
#
# - 启动（或部署）库存应用和边缘缓存，并载入演示数据。
# - 经门店的边缘缓存浏览商品和库存。
# - 读懂缓存状态头：先是 `X-Edge-Cache: MISS`，然后是 `HIT` 或 `REVALIDATED`。
# - 解释为什么新鲜命中很快，而重新验证仍要付出一次广域网往返。
#
# **时间预算：** 约 10 分钟。
#
# **前提条件**
#
# - 已通过笔记本 01（实验环境能启动，各部分健康）。
#
# **运行环境：** `local`（默认）和 `cluster`（设置 `deploy = True` 会通过 ansible-runner
# 运行部署 playbook；否则检查教师已完成的部署）。
#
# 从上到下运行各单元格。浏览实验之前先写下**预测**；实验之后，*你应当看到* 和各项检查会
# 告诉你发生了什么，最后在答题单元格中**解释**。✔ 表示检查通过，✘ 会附带提示。

# %% [markdown] id="c01"
# ## Parameters

# %% [markdown] id="c01" lang="zh-CN"
# ## 参数

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
wan_loss = 0.0  # packet-loss fraction on the WAN link while we browse (0..0.99)
repeat = 3  # requests per URL through the edge
deploy = False  # cluster: run playbooks/deploy.yml through ansible-runner first

results_dir = "../build/lab/notebooks/02-deploy"  # results.json, CSV and PNG files
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
from edgelab.notebook import Results, answers, cluster
from edgelab.notebook import walkthrough as steps

from edgelab import plots

lang = _("en", zh="zh-CN")
plots.set_language(lang)
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

# %% [markdown] id="c05" lang="zh-CN"
# ## 阶段 1 · 部署
#
# **本地运行环境。** 我们像 01 那样启动实验环境，只有一处不同：边缘缓存的*策略文件*给
# `/api/products` 设定 `ttl_s` 秒的新鲜期。云端自己把数据标记为
# `Cache-Control: public, max-age=0, stale-if-error=604800`，意思是"能连上我时每次都先问
# 我，连不上时你手里的数据可以用一周"。策略让门店在 `ttl_s` 秒内不必为商品数据去问云端；
# 商品一旦变化，云端的变更流会立即让边缘上的副本失效，所以门店不会长时间看到过期价格。
#
# **集群运行环境。** 当 `deploy = True` 时，笔记本通过 ansible-runner 运行
# `playbooks/deploy.yml`（PostgreSQL、应用、在标记为 `edgelab.dev/edge=true` 的节点上运行的
# edge-cache DaemonSet）。否则使用教师已部署的环境。
#
# *你应当看到：* 与 01 相同的端点，全部健康。

# %% id="c06"
if target == "cluster" and deploy:
    playbook = cluster.run_playbook("deploy.yml", inventory, results.file("ansible"))
    results.record("deploy_playbook", playbook)
    results.check(
        "deploy playbook succeeded",
        playbook["rc"] == 0,
        success=_("playbooks/deploy.yml ran without failures",
                  zh="playbooks/deploy.yml 运行无失败"),
        hint=_("Read results_dir/ansible/artifacts/*/stdout; rerun with -vvv from a terminal.",
               zh="阅读 results_dir/ansible/artifacts/*/stdout；在终端中加 -vvv 重新运行。"),
        observed=playbook["status"],
    )
else:
    results.skip("deploy playbook succeeded",
                 _("nothing to deploy (local target, or deploy=False)",
                   zh="无需部署（本地运行环境，或 deploy=False）"))

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
    success=_(f"cloud and {', '.join(lab.endpoints().edges)} ready",
              zh=f"云端和 {', '.join(lab.endpoints().edges)} 已就绪"),
    hint=_(f"Is {edge!r} one of the edges? Read the detail column and the part's log.",
           zh=f"{edge!r} 是其中一个边缘吗？查看 detail 列和该部分的日志。"),
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

# %% [markdown] id="c09" lang="zh-CN"
# ## 阶段 2 · 演示数据
#
# 云端保存着一个小型连锁店：一个中心仓库、每家门店一个仓库、分类树中的几百种商品、供应商
# 和客户，以及记入库存台账的三周采购、销售和调拨。本地由 `LocalTarget` 为每个 `lab_dir`
# 载入一次；在集群上由部署 playbook 载入。
#
# *你应当看到：* 包含几百种商品的目录。

# %% id="c10"
products = results.record("catalogue_size", steps.catalogue_size(lab))
print(_(f"{products} products in the catalogue", zh=f"目录中有 {products} 种商品"))
results.check(
    "demo data loaded",
    products > 0,
    success=_(f"{products} products", zh=f"{products} 种商品"),
    hint=_("Locally: `edgelab seed`; on a cluster the app role seeds the demo data.",
           zh="本地：运行 `edgelab seed`；在集群上由 app 角色载入演示数据。"),
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
# **Predict** first, in the next cell: how many milliseconds will a repeated product request
# take through the edge (`predicted_hit_ms`), and a request straight to the cloud over the
# delayed link (`predicted_cloud_ms`)? Hint: the link delays every packet by `wan_latency_ms`
# in each direction.

# %% [markdown] id="c11" lang="zh-CN"
# ## 阶段 3 · 经边缘浏览
#
# 我们给每条广域网链路增加 `wan_latency_ms` 的延迟（链路模拟器在每个方向上把每个数据包
# 扣留这么久），清空边缘缓存，然后以门店店员的身份经边缘把三个 URL 各请求 `repeat` 次：
# 商品列表、一种商品、以及该商品在本店的库存。之后经同一条广域网链路、不经缓存，直接向
# 云端把每个 URL 请求一次。
#
# 先在下一个单元格中**预测**：经边缘重复请求一种商品需要多少毫秒（`predicted_hit_ms`）？
# 经延迟的链路直接请求云端又需要多少毫秒（`predicted_cloud_ms`）？提示：链路在每个方向上
# 都把每个数据包延迟 `wan_latency_ms`。

# %% id="p1" answer="prediction"
predicted_hit_ms = None  # a repeated product request through the edge
predicted_cloud_ms = None  # the same request straight to the cloud over the WAN

# %% id="p1" solution=true
predicted_hit_ms = 2  # served from the edge's store, no WAN round trip
predicted_cloud_ms = 85  # one round trip: 40 ms each way, plus the request itself

# %% id="p2"
answers.predict(results, lang=lang, hit_ms=predicted_hit_ms, cloud_ms=predicted_cloud_ms)

# %% id="c12" tags=["raw-data"]
if wan_latency_ms > 0 or wan_loss > 0:
    results.on_teardown(lambda: steps.set_wan_latency(lab, 0), "restore the WAN links")
    steps.set_wan_latency(lab, wan_latency_ms, loss=wan_loss)
steps.purge(lab, edge)
paths = steps.demo_paths(lab, edge)
browsing = steps.browse(lab, edge, paths, repeat=repeat)
steps.save_table(results, "browse", browsing)
results.record("browse", browsing)
browsing[["path", "via", "attempt", "status", "x_edge_cache", "age", "latency_ms"]]

# %% id="c13"
fig = plots.browse_figure(browsing, results.file("browse.png"))
fig

# %% [markdown] id="c14"
# ## Phase 4 · Check what the edge did
#
# *What you should see* in the `x_edge_cache` column:
#
# - the first request of every URL is a `MISS`: the edge fetched it from the cloud and stored it;
# - product URLs then say `HIT` with an `Age` header: served from the edge's store, no WAN
#   round trip at all, so they take about a millisecond;
# - the stock URL says `REVALIDATED`: the edge asked the cloud "has this changed?"
#   (`If-None-Match`) and got `304 Not Modified` back, so it paid the WAN round trip but did
#   not transfer the body again.

# %% [markdown] id="c14" lang="zh-CN"
# ## 阶段 4 · 检查边缘做了什么
#
# 在 `x_edge_cache` 列中*你应当看到*：
#
# - 每个 URL 的第一次请求都是 `MISS`：边缘从云端取回并存储了它；
# - 之后商品 URL 显示 `HIT` 并带 `Age` 头：由边缘的存储应答，完全没有广域网往返，所以大约
#   只需一毫秒；
# - 库存 URL 显示 `REVALIDATED`：边缘问云端"这个变了吗？"（`If-None-Match`），得到
#   `304 Not Modified`，所以付出了广域网往返，但没有重新传输内容。

# %% id="c15"
via_edge = browsing[browsing["via"] == "edge"]
first = via_edge[via_edge["attempt"] == 1]
again = via_edge[via_edge["attempt"] > 1]
results.check(
    "first request is a MISS",
    bool((first["x_edge_cache"] == "MISS").all()),
    success=_("every URL was fetched from the cloud once", zh="每个 URL 都从云端取过一次"),
    hint=_("The cache was not empty: did the purge fail? Is the edge-cache admin token set?",
           zh="缓存不是空的：清除失败了吗？是否设置了 edge-cache 的管理令牌？"),
    observed=dict(zip(first["path"], first["x_edge_cache"], strict=True)),
)
results.check(
    "repeats served by the cache",
    bool(again["x_edge_cache"].isin(["HIT", "REVALIDATED"]).all()),
    success=_("repeated requests were answered from the edge's store (HIT or REVALIDATED)",
              zh="重复请求由边缘的存储应答（HIT 或 REVALIDATED）"),
    hint=_("MISS again means the response was not stored: look at its Cache-Control header.",
           zh="再次 MISS 表示响应没有被存储：查看它的 Cache-Control 头。"),
    observed=again["x_edge_cache"].value_counts().to_dict(),
)

# %% id="c16"
products_again = again[again["path"].str.startswith("/api/products")]
if target == "local":
    results.check(
        "products are fresh hits",
        bool((products_again["x_edge_cache"] == "HIT").all()),
        success=_(f"product data served without asking the cloud (ttl_s={ttl_s})",
                  zh=f"商品数据无需询问云端即可应答（ttl_s={ttl_s}）"),
        hint=_("With ttl_s > 0 the policy file makes /api/products fresh at the edge; "
               "with ttl_s = 0 every request is revalidated.",
               zh="ttl_s > 0 时策略文件让 /api/products 在边缘保持新鲜；ttl_s = 0 时每个请求"
               "都要重新验证。"),
        observed=products_again["x_edge_cache"].value_counts().to_dict(),
    )
else:
    results.skip("products are fresh hits",
                 _("cluster: the deployed edge policy decides", zh="集群：由已部署的边缘策略决定"))
hits = via_edge[via_edge["x_edge_cache"] == "HIT"]["latency_ms"]
cloud = browsing[browsing["via"] == "cloud"]["latency_ms"]
if wan_latency_ms > 0 and len(hits):
    results.record("hit_median_ms", hits.median())
    results.record("cloud_median_ms", cloud.median())
    results.check(
        "hits faster than the WAN",
        hits.median() < cloud.median(),
        success=_(f"hit median {hits.median():.1f} ms vs cloud {cloud.median():.1f} ms",
                  zh=f"命中中位数 {hits.median():.1f} 毫秒，云端 {cloud.median():.1f} 毫秒"),
        hint=_("A fresh hit never crosses the WAN; if it is slow the machine is overloaded.",
               zh="新鲜命中从不经过广域网；如果它很慢，说明机器负载过高。"),
        observed={"hit_ms": hits.median(), "cloud_ms": cloud.median()},
    )
else:
    results.skip("hits faster than the WAN",
                 _("no WAN latency added, or no fresh hits", zh="未增加广域网延迟，或没有新鲜命中"))
answers.compare(results, "hit_ms", predicted_hit_ms,
                float(hits.median()) if len(hits) else None, " ms", lang=lang)
answers.compare(results, "cloud_ms", predicted_cloud_ms, float(cloud.median()), " ms", lang=lang)

# %% id="c17"
cloud_etags = browsing[browsing["via"] == "cloud"].set_index("path")["etag"]
edge_etags = first.set_index("path")["etag"]
same = [p for p in paths if edge_etags.get(p) and edge_etags.get(p) == cloud_etags.get(p)]
results.check(
    "edge serves the cloud's data",
    len(same) == len(paths),
    success=_("the edge's responses carry the cloud's ETags (same representation)",
              zh="边缘的响应带有云端的 ETag（同一表示）"),
    hint=_("Different ETags: did something change the data while browsing?",
           zh="ETag 不同：浏览期间有东西修改了数据吗？"),
    observed={p: (edge_etags.get(p), cloud_etags.get(p)) for p in paths if p not in same},
)

# %% [markdown] id="t1"
# ## Try it in a terminal
#
# With the lab still running (`cleanup = False`, or before the teardown cell), open a terminal
# in the project directory and watch the edge while you change its link:
#
# ```bash
# .venv/bin/edgelab link shop-1 degrade --latency-ms 80
# .venv/bin/edgelab link shop-1 down
# .venv/bin/edgelab status    # shop-1: offline after about a second
# .venv/bin/edgelab link shop-1 up
# ```
#
# `/_edge/status` of the edge (its URL is in the health table above) shows `state`
# (`online`/`offline`) and `outbox_depth`. This step is not graded.

# %% [markdown] id="t1" lang="zh-CN"
# ## 在终端中试一试
#
# 在实验环境仍在运行时（`cleanup = False`，或在清理单元格之前），在项目目录中打开一个
# 终端，一边修改链路一边观察边缘：
#
# ```bash
# .venv/bin/edgelab link shop-1 degrade --latency-ms 80
# .venv/bin/edgelab link shop-1 down
# .venv/bin/edgelab status    # 大约一秒后 shop-1 变为 offline
# .venv/bin/edgelab link shop-1 up
# ```
#
# 边缘的 `/_edge/status`（它的 URL 在上面的健康表中）显示 `state`（`online`/`offline`）和
# `outbox_depth`。这一步不计分。

# %% [markdown] id="c18"
# ## Explain
#
# Answer each question in the cell below it (two to four sentences); the answers are collected
# into the report of `edgelab check`.
#
# 1. The cloud says `max-age=0` for product data; the edge's policy says `ttl_s`. Who should
#    decide how fresh a shop's data must be, and what keeps a long TTL from serving old prices?

# %% [markdown] id="c18" lang="zh-CN"
# ## 解释
#
# 在每个问题下面的单元格中作答（两到四句话）；答案会被收集到 `edgelab check` 的报告中。
#
# 1. 云端对商品数据声明 `max-age=0`，边缘的策略却设定 `ttl_s`。应当由谁决定门店的数据必须
#    多新鲜？是什么让较长的 TTL 不会提供过期的价格？

# %% [markdown] id="a1" answer="reflection"
# *Your answer:*

# %% [markdown] id="a1" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="q2"
# 2. Compare your predictions with the measured latencies. Why is a `REVALIDATED` response
#    still worth having, even though it waits for the WAN?

# %% [markdown] id="q2" lang="zh-CN"
# 2. 把你的预测与实测延迟比较。`REVALIDATED` 响应虽然要等待广域网，为什么仍然值得？

# %% [markdown] id="a2" answer="reflection"
# *Your answer:*

# %% [markdown] id="a2" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="q3"
# 3. Which of these URLs would you never let an edge share between clerks, and how does the
#    cloud tell the edge so (look at `Cache-Control` in the table)?

# %% [markdown] id="q3" lang="zh-CN"
# 3. 这些 URL 中哪一个你绝不会让边缘在店员之间共享？云端是如何告诉边缘的（看表中的
#    `Cache-Control`）？

# %% [markdown] id="a3" answer="reflection"
# *Your answer:*

# %% [markdown] id="a3" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="c19"
# ## Summary
#
# The table lists every check of this notebook. `results.json` in `results_dir` holds the same
# table plus every recorded value; `edgelab check` grades from the raw data files instead.

# %% [markdown] id="c19" lang="zh-CN"
# ## 小结
#
# 下表列出本笔记本的所有检查。`results_dir` 中的 `results.json` 包含同样的表格和每个记录的
# 值；`edgelab check` 则根据原始数据文件评分。

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

# %% [markdown] id="c21" lang="zh-CN"
# ## 清理
#
# 停止本笔记本启动的一切（本地运行环境：实验环境的进程；它们的数据和日志保留在 `lab_dir`
# 中）。运行两次是安全的，某个单元格失败后运行也是安全的。在集群上不会删除任何东西：集群
# 归教师管理。设置 `cleanup = False` 可在笔记本结束后保持实验环境运行（之后请自己运行
# `edgelab down`）。

# %% tags=["teardown"] id="c22"
results.teardown()
