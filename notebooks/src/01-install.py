# %% build="skip"
from edgelab.notebook.i18n import _

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

# %% [markdown] id="c00" lang="zh-CN"
# # 01 · 安装并验证实验环境
#
# **学习目标**
#
# - 说出 EdgeLab 的三个部分（云端应用、边缘缓存、广域网链路）以及它们各自运行在哪里。
# - 启动本地实验环境，或连接到班级集群，并验证每个部分。
# - 读懂 Kubernetes 节点表：Ready、角色、版本、边缘标签。
# - 测量到每个部分的第一次往返。
#
# **时间预算：** 约 10 分钟（本地：第一次启动要载入演示数据，约需 30 秒）。
#
# **前提条件**
#
# - 已运行 `make setup`（它安装实验工具包并注册本笔记本的内核）。
# - 仅集群运行环境：教师已运行 `playbooks/site.yml`；你有它写出的 kubeconfig
#   （`build/kubeconfig`），并且能连上云端节点。
#
# **运行环境：** `local`（默认）和 `cluster`（K3s 或 KubeEdge）。
#
# 从上到下运行各单元格（*Run → Run All Cells* 也可以）。每个阶段先说明你应当看到什么，再做
# 一件事，然后检查：✔ 表示检查通过，✘ 会附带提示。

# %% [markdown] id="c01"
# ## Parameters
#
# This cell is tagged `parameters`: `edgelab check -p name value` replaces these values when the
# notebook runs headless. Change them here when you work interactively.

# %% [markdown] id="c01" lang="zh-CN"
# ## 参数
#
# 这个单元格带有 `parameters` 标签：无界面运行笔记本时，`edgelab check -p 名称 值` 会替换
# 这里的值。交互使用时直接在这里修改。

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
from IPython.display import display

from edgelab import plots

lang = _("en", zh="zh-CN")
plots.set_language(lang)
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

# %% [markdown] id="c05" lang="zh-CN"
# ## 阶段 1 · 启动实验环境
#
# **本地运行环境。** `LocalTarget` 启动真实的进程：云端应用（`inventory-app`，记录系统，
# 使用 SQLite）、每家门店一个链路模拟器（扮演广域网的 TCP 代理：我们可以让它变慢或切断
# 它），以及每家门店一个边缘缓存（`edge-cache`，在广域网断开时让门店继续工作的边车）。每个
# 边缘*只能*经过它的链路访问云端。
#
# **集群运行环境。** 不启动任何东西：笔记本检查 Kubernetes API 是否应答，并找到教师部署的
# 应用和边缘缓存。
#
# *你应当看到：* 云端的 URL 和每个边缘的 URL。第一次本地启动要载入三周的演示销售数据，
# 所以比之后几次慢。

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
    success=_(f"cloud at {endpoints.cloud}; edges: {', '.join(endpoints.edges)}",
              zh=f"云端位于 {endpoints.cloud}；边缘：{', '.join(endpoints.edges)}"),
    hint=_("Read the error above. Locally, `edgelab status` and the logs in lab_dir/logs name "
           "the part that did not start; `edgelab down` clears a crashed earlier run.",
           zh="阅读上面的错误。本地运行时，`edgelab status` 和 lab_dir/logs 中的日志会指出没有"
           "启动的部分；`edgelab down` 会清理之前崩溃的运行。"),
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

# %% [markdown] id="c08" lang="zh-CN"
# ## 阶段 2 · 每个部分都健康吗？
#
# 我们询问每个部分的健康状况：云端的 `/readyz`、每条链路的控制 API，以及每个边缘的
# `/_edge/status`。
#
# *你应当看到：* 每个部分一行，全部 `healthy`。边缘显示 `online`（能经过链路访问云端），
# 发件箱为空（`outbox_depth` 为 0：没有等待发往云端的写入）。

# %% id="c09"
health = steps.wait_online(lab, timeout_s=30)
steps.save_table(results, "health", health)
results.record("health", health)
health

# %% id="c10"
results.check(
    "every part healthy",
    bool(health["healthy"].all()),
    success=_(f"{len(health)} parts answer their health checks",
              zh=f"{len(health)} 个部分应答了健康检查"),
    hint=_("Look at the state and detail columns; a part's log is in lab_dir/logs/<part>.log.",
           zh="查看 state 和 detail 列；各部分的日志在 lab_dir/logs/<部分>.log。"),
    observed=health.loc[~health["healthy"], "name"].tolist(),
)
edge_rows = health[health["kind"] == "edge"]
results.check(
    "edges online",
    len(edge_rows) > 0 and bool((edge_rows["state"] == "online").all()),
    success=_("every edge reaches the cloud through its link", zh="每个边缘都能经链路访问云端"),
    hint=_("An offline edge cannot reach the cloud: is its link down (`edgelab status`)?",
           zh="离线的边缘无法访问云端：它的链路断了吗（`edgelab status`）？"),
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

# %% [markdown] id="c11" lang="zh-CN"
# ## 阶段 3 · 集群的节点（仅集群运行环境）
#
# K3s 集群有一个服务器（角色 `control-plane`）和若干 agent。在 KubeEdge 模式下，边缘节点
# 运行 **EdgeCore**，而不是直接连接 API server 的 kubelet；它们的版本字符串包含
# `kubeedge`。两种发行版都给边缘节点加上 `edgelab.dev/edge=true` 标签：edge-cache
# DaemonSet 只在那里运行。
#
# *你应当看到：* 每个节点都是 `Ready`，至少有一个边缘节点，版本在 KubeEdge v1.23 支持的
# 范围内（Kubernetes 1.30–1.32）。本地运行环境没有节点：这些检查标记为跳过（–）。

# %% id="c12"
if target == "cluster":
    nodes = steps.cluster_nodes(lab, kubeconfig)
    steps.save_table(results, "nodes", nodes)
    node_summary = results.record("nodes", cluster.summarize_nodes(nodes))
    display(nodes)
else:
    nodes, node_summary = None, None
    print(_("local target: every part is a process on this machine, no Kubernetes nodes",
            zh="本地运行环境：每个部分都是本机上的进程，没有 Kubernetes 节点"))

# %% id="c13"
if node_summary is not None:
    results.check(
        "nodes ready",
        node_summary["nodes"] > 0 and not node_summary["not_ready"],
        success=_(f"{node_summary['nodes']} nodes Ready",
                  zh=f"{node_summary['nodes']} 个节点 Ready"),
        hint=_("A NotReady edge: is EdgeCore/k3s-agent running on it, can it reach the cloud "
               "node (ports 6443, 10000, 10002)? KubeEdge join tokens expire after 24 h.",
               zh="边缘节点 NotReady：它上面的 EdgeCore/k3s-agent 在运行吗？能连上云端节点"
               "（端口 6443、10000、10002）吗？KubeEdge 的加入令牌 24 小时后过期。"),
        observed=node_summary["not_ready"],
    )
    results.check(
        "edge nodes labelled",
        len(node_summary["edge_nodes"]) > 0,
        success=_(f"edge nodes: {', '.join(node_summary['edge_nodes'])}",
                  zh=f"边缘节点：{', '.join(node_summary['edge_nodes'])}"),
        hint=_("Label them with the app playbook (playbooks/deploy.yml) or "
               "`kubectl label node NAME edgelab.dev/edge=true`.",
               zh="用应用 playbook（playbooks/deploy.yml）或 "
               "`kubectl label node 名称 edgelab.dev/edge=true` 加标签。"),
    )
    results.check(
        "supported Kubernetes versions",
        cluster.versions_supported(nodes),
        success=_(f"versions: {', '.join(node_summary['versions'])}",
                  zh=f"版本：{', '.join(node_summary['versions'])}"),
        hint=_("KubeEdge v1.23 supports Kubernetes 1.30-1.32; pin k3s_version in group_vars.",
               zh="KubeEdge v1.23 支持 Kubernetes 1.30-1.32；在 group_vars 中固定 k3s_version。"),
        observed=node_summary["versions"],
    )
else:
    for name in ("nodes ready", "edge nodes labelled", "supported Kubernetes versions"):
        results.skip(name, _("local target: no Kubernetes nodes",
                             zh="本地运行环境：没有 Kubernetes 节点"))

# %% [markdown] id="c14"
# ## Phase 4 · First round trips
#
# We send `probes` health requests to every part and time them. Rows named `link-…` go to the
# cloud *through* that edge's WAN link: that is the path an edge's cache misses take.
#
# **Predict** first: how many milliseconds will the median round trip to the cloud through a
# link take (`predicted_probe_ms`)? The links add no delay yet.

# %% [markdown] id="c14" lang="zh-CN"
# ## 阶段 4 · 第一次往返
#
# 我们向每个部分发送 `probes` 个健康请求并计时。名为 `link-…` 的行*经过*该边缘的广域网
# 链路访问云端：这正是边缘缓存未命中时走的路径。
#
# 先**预测**：经链路到云端的往返中位数是多少毫秒（`predicted_probe_ms`）？此时链路还没有
# 增加延迟。

# %% id="p1" answer="prediction"
predicted_probe_ms = None  # median round trip to the cloud through a link

# %% id="p1" solution=true
predicted_probe_ms = 2  # one machine, no added delay

# %% id="p2"
answers.predict(results, lang=lang, probe_ms=predicted_probe_ms)

# %% id="c15" tags=["raw-data"]
probe_table = steps.probe_parts(lab, n=probes)
steps.save_table(results, "probes", probe_table)
results.record("probe_median_ms", probe_table.groupby("part")["latency_ms"].median())
fig = plots.probe_figure(probe_table, results.file("probes.png"))
fig

# %% id="c16"
failed = probe_table[probe_table["status"] != 200]
results.check(
    "every probe answered",
    failed.empty,
    success=_(f"{len(probe_table)} health requests, all 200",
              zh=f"{len(probe_table)} 个健康请求，全部 200"),
    hint=_("Some part did not answer; rerun phase 2 and read that part's log.",
           zh="有部分没有应答；重新运行阶段 2 并阅读该部分的日志。"),
    observed=sorted(set(failed["part"])),
)
through_links = probe_table[probe_table["part"].str.startswith("link-")]["latency_ms"]
answers.compare(results, "probe_ms", predicted_probe_ms,
                float(through_links.median()) if len(through_links) else None, " ms", lang=lang)

# %% [markdown] id="w1"
# *What you should see:* on one machine every round trip is around a millisecond; nothing is
# slow yet because the links add no delay. (Notebook 02 adds WAN latency.) On a cluster the
# edge numbers include the network between you and the edge node.

# %% [markdown] id="w1" lang="zh-CN"
# *你应当看到：* 在一台机器上每次往返大约一毫秒；因为链路还没有增加延迟，所以都不慢。
# （笔记本 02 会增加广域网延迟。）在集群上，边缘的数值包含你与边缘节点之间的网络。

# %% [markdown] id="c17"
# ## Explain
#
# Answer each question in the cell below it (two to four sentences); the answers are collected
# into the report of `edgelab check`.
#
# 1. Which process would you stop to simulate "the shop lost its internet connection"? Why
#    not stop the edge cache itself?

# %% [markdown] id="c17" lang="zh-CN"
# ## 解释
#
# 在每个问题下面的单元格中作答（两到四句话）；答案会被收集到 `edgelab check` 的报告中。
#
# 1. 要模拟"门店断网了"，你会停止哪个进程？为什么不停止边缘缓存本身？

# %% [markdown] id="a1" answer="reflection"
# *Your answer:*

# %% [markdown] id="a1" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="q2"
# 2. The edges reach the cloud only through their link. What would change if the edge cache
#    talked to the cloud directly?

# %% [markdown] id="q2" lang="zh-CN"
# 2. 边缘只能经过它的链路访问云端。如果边缘缓存直接与云端通信，会有什么不同？

# %% [markdown] id="a2" answer="reflection"
# *Your answer:*

# %% [markdown] id="a2" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="q3"
# 3. (Cluster) In KubeEdge mode, which component replaces the kubelet's direct connection to
#    the API server, and where does it keep its state while the node is cut off?

# %% [markdown] id="q3" lang="zh-CN"
# 3. （集群）在 KubeEdge 模式下，哪个组件取代了 kubelet 与 API server 的直接连接？节点被
#    切断时它把状态保存在哪里？

# %% [markdown] id="a3" answer="reflection"
# *Your answer:*

# %% [markdown] id="a3" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="c18"
# ## Summary
#
# The table lists every check of this notebook. `results.json` in `results_dir` holds the same
# table plus every recorded value; `edgelab check` reads it.

# %% [markdown] id="c18" lang="zh-CN"
# ## 小结
#
# 下表列出本笔记本的所有检查。`results_dir` 中的 `results.json` 包含同样的表格和每个记录的
# 值；`edgelab check` 会读取它。

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

# %% [markdown] id="c20" lang="zh-CN"
# ## 清理
#
# 停止本笔记本启动的一切（本地运行环境：实验环境的进程；它们的数据和日志保留在 `lab_dir`
# 中）。运行两次是安全的，某个单元格失败后运行也是安全的。在集群上不会删除任何东西：集群
# 归教师管理。设置 `cleanup = False` 可在笔记本结束后保持实验环境运行（之后请自己运行
# `edgelab down`）。

# %% tags=["teardown"] id="c21"
results.teardown()
