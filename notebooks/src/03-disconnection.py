# %% build="skip"
from edgelab.notebook.i18n import _

# %% [markdown] id="c00"
# # 03 · Disconnection: keep selling while the WAN is down
#
# **Learning goals**
#
# - Predict, then measure, what a shop's edge cache does when its WAN link is cut: reads served
#   from the edge (`OFFLINE-HIT`), writes queued in its outbox (202).
# - Watch the outbox drain after the link comes back, and verify against the cloud that every
#   sale was applied exactly once, also after the edge process was killed while offline.
# - Compute the outage detection delay yourself from the recorded requests (graded exercise).
# - Explain what Kubernetes really does with an edge node that is cut off (K3s vs KubeEdge).
#
# **Time budget:** about 20 minutes (each experiment: warm-up + outage + recovery).
#
# **Prerequisites**
#
# - Notebooks 01 and 02 passed.
#
# **Targets:** `local` (default) and `cluster` (the link is cut on the edge node by the `link`
# playbook through ansible-runner).
#
# For every experiment: first write your **prediction** in the cell marked *your prediction*,
# then run it, read *What you should see*, and then **explain** in your own words. A ✔ line
# means a check passed, a ✘ line comes with a hint.

# %% [markdown] id="c00" lang="zh-CN"
# # 03 · 断网：广域网断开时照常销售
#
# **学习目标**
#
# - 先预测、再测量：门店的广域网链路被切断时，边缘缓存会怎样——读请求由边缘应答
#   （`OFFLINE-HIT`），写请求进入发件箱（202）。
# - 观察链路恢复后发件箱的排空，并对照云端验证每笔销售恰好应用一次；即使边缘进程在断网时
#   被强行杀掉也是如此。
# - 根据记录的请求自己计算断网检测延迟（计分练习）。
# - 解释 Kubernetes 对断网的边缘节点实际做了什么（K3s 与 KubeEdge 的区别）。
#
# **时间预算：** 约 20 分钟（每个实验：预热 + 断网 + 恢复）。
#
# **前提条件**
#
# - 已通过笔记本 01 和 02。
#
# **运行环境：** `local`（默认）和 `cluster`（由 `link` playbook 通过 ansible-runner 在边缘
# 节点上切断链路）。
#
# 每个实验都按同一顺序：先在标有 *你的预测* 的单元格里写下**预测**，再运行，阅读
# *你应当看到*，最后用自己的话**解释**。✔ 表示检查通过，✘ 会附带提示。

# %% [markdown] id="c01"
# ## What Kubernetes does when an edge node is cut off
#
# Every node's kubelet renews a lease with the API server. When a node stops renewing it, the
# node lifecycle controller marks it `NotReady` (condition `Unknown`) after
# `node-monitor-grace-period`, **50 s** in the pinned K3s 1.32 (40 s in Kubernetes before
# 1.32), and taints it `node.kubernetes.io/unreachable:NoExecute`.
#
# - **Ordinary pods** (a Deployment's) get a default toleration of **300 s** for that taint;
#   after that the API server evicts them and the Deployment creates replacements elsewhere.
#   This is the same on K3s and on KubeEdge: KubeEdge's cloud side uses the upstream node
#   lifecycle controller (KubeEdge issues #1571, #2385; users report pods recreated after a
#   5-minute outage, #3941, #4048).
# - **DaemonSet pods**, like our edge-cache, tolerate `unreachable` and `not-ready` forever:
#   they are **never evicted, on either flavor**.
#
# The real difference shows when the **edge node restarts while it is offline**: EdgeCore's
# MetaManager keeps the pod specs in a local SQLite database and starts the pods again from it
# (edge autonomy); a K3s agent has to ask the API server for its pods and cannot, so the shop's
# pods stay down until the WAN is back. The application-level part (serve reads from the
# cache, queue writes durably, replay them exactly once) is the same everywhere: that is what
# we measure here, including a `kill -9` of the edge process in the middle of an outage.

# %% [markdown] id="c01" lang="zh-CN"
# ## 边缘节点断网时 Kubernetes 做了什么
#
# 每个节点的 kubelet 都会向 API server 续约租约（lease）。节点停止续约后，节点生命周期控制器
# 会在 `node-monitor-grace-period` 之后把它标记为 `NotReady`（状态 `Unknown`）——本实验固定的
# K3s 1.32 中为 **50 秒**（1.32 之前的 Kubernetes 为 40 秒），并打上
# `node.kubernetes.io/unreachable:NoExecute` 污点。
#
# - **普通 Pod**（Deployment 的 Pod）对该污点有 **300 秒**的默认容忍；超时后 API server
#   驱逐它们，Deployment 在别处重建。K3s 和 KubeEdge 在这一点上相同：KubeEdge 的云端使用
#   上游的节点生命周期控制器（KubeEdge issue #1571、#2385；有用户报告 5 分钟断网后 Pod
#   被重建，#3941、#4048）。
# - **DaemonSet 的 Pod**（比如我们的 edge-cache）永久容忍 `unreachable` 和 `not-ready`：
#   **两种发行版都不会驱逐它们**。
#
# 真正的区别出现在**边缘节点在断网期间重启**时：EdgeCore 的 MetaManager 把 Pod 定义保存在
# 本地 SQLite 数据库中，并据此重新启动 Pod（边缘自治）；K3s agent 必须向 API server 获取
# 自己的 Pod，断网时做不到，门店的 Pod 要等广域网恢复才会回来。应用层的部分（从缓存应答读
# 请求、持久地排队写请求、恰好一次地重放）在任何环境下都一样：这正是本笔记本要测量的，
# 包括在断网期间对边缘进程执行 `kill -9`。

# %% [markdown] id="c02"
# ## Parameters
#
# `outage_s` is how long the link stays cut. `max_offline_stale_s` is how long past its
# freshness the edge may serve a stored response while offline (the cloud's own
# `stale-if-error=604800` also allows a week, and the edge takes the larger of the two).
# `outbox_max_entries` bounds the outbox: a full outbox answers `507 Insufficient Storage` and
# never evicts a queued sale. `restart_phase` adds the "edge process killed while offline"
# experiment; `lose_outbox = True` turns it into a negative control (the outbox is deleted
# with the process, as on a node without durable storage).

# %% [markdown] id="c02" lang="zh-CN"
# ## 参数
#
# `outage_s` 是链路切断的时长。`max_offline_stale_s` 是断网时边缘可以在新鲜期之后继续使用
# 已存响应的时长（云端自己的 `stale-if-error=604800` 也允许一周，边缘取两者中较大者）。
# `outbox_max_entries` 限制发件箱的大小：发件箱满时应答 `507 Insufficient Storage`，绝不会
# 丢弃已排队的销售。`restart_phase` 增加"断网期间杀掉边缘进程"实验；`lose_outbox = True`
# 把它变成反向对照（进程被杀时发件箱也被删除，就像没有持久存储的节点）。

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
clerk_rate_per_s = 2.0  # requests per second of one clerk (think time 1/rate)
write_share = 0.12  # share of requests that are writes (sales, goods received)
baseline = True  # also run the same workload with no cache (directly to the cloud)
max_offline_stale_s = 604800  # local: EDGE_CACHE_MAX_OFFLINE_STALE (seconds)
outbox_max_entries = 100000  # local: edge setting EDGE_CACHE_OUTBOX_MAX_ENTRIES
min_read_success = 0.5  # share of reads during the outage that must succeed via the edge
drain_timeout_s = None  # None: derived from what was queued and the measured replay rate
restart_phase = True  # also restart the edge in the middle of an outage (local: kill -9)
lose_outbox = False  # local negative control: delete the edge's outbox with the process
student = None  # cluster (class mode): your name as the instructor listed it; leases the edge
cut_edge = None  # cluster: the edge whose link you cut (None: the first edge of the inventory)
restart_outage_s = 120  # cluster: outage of the restart phase (NotReady only after 50 s)
control_plane_interval_s = 2.0  # cluster: seconds between two control-plane samples
verify = None  # None: "document" on a cluster (a class shares warehouses), else "warehouse"

results_dir = "../build/lab/notebooks/03-disconnection"  # results.json, CSV and PNG files
cleanup = True  # stop what this notebook started at the end, also after an error

# %% [markdown] id="c04"
# ## Set-up
#
# The next cell loads the lab kit and opens this notebook's results file. Every value we
# measure and every check is written to `results.json` in `results_dir` at once. Whatever
# this notebook starts is registered for teardown right away: it is stopped at the end, and
# also when the kernel stops after an error.

# %% [markdown] id="c04" lang="zh-CN"
# ## 准备
#
# 下一个单元格加载实验工具包并打开本笔记本的结果文件。每个测量值和每项检查都会立即写入
# `results_dir` 中的 `results.json`。本笔记本启动的一切都会立刻登记清理：结束时停止，
# 出错导致内核停止时也会停止。

# %% id="c05"
from edgelab.analysis import outage
from edgelab.experiments import disconnection
from edgelab.experiments.runtime import wait_queued
from edgelab.notebook import Results, answers, cluster
from edgelab.notebook import walkthrough as steps
from IPython.display import Image, display

from edgelab import plots

lang = _("en", zh="zh-CN")
plots.set_language(lang)
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
# edge-cache pods (name, node, uid, restarts) to compare after the outage.

# %% [markdown] id="c06" lang="zh-CN"
# ## 阶段 1 · 启动实验环境
#
# 边缘缓存使用本笔记本的离线参数（本地运行环境）。在集群上我们还记录 edge-cache 的 Pod
# （名称、节点、uid、重启次数），以便断网后对比。

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
    success=_("cloud, links and edges healthy", zh="云端、链路和边缘缓存均健康"),
    hint=_("Run notebook 01 to find the part that is not healthy.",
           zh="运行笔记本 01，找出不健康的部分。"),
    observed=health.loc[~health["healthy"], "name"].tolist(),
)

# %% [markdown] id="l0"
# ## Class mode · Lease your edge before you cut it
#
# On a shared cluster several students use the same edges. Before this notebook cuts an edge's
# link it takes a **lease** on that edge (a Kubernetes `Lease` object holding your name and an
# expiry); if another student holds it, the notebook stops here and says who and until when.
# Whatever happens later, the teardown restores the link you cut and gives the lease back.
# On the local target every edge is yours, so no lease is needed.

# %% [markdown] id="l0" lang="zh-CN"
# ## 课堂模式 · 切断链路之前先租用你的边缘节点
#
# 在共享集群上，多名学生使用同一批边缘节点。本笔记本在切断某个边缘节点的链路之前，会先对该
# 节点取得**租约**（一个 Kubernetes `Lease` 对象，记录你的名字和到期时间）；如果另一名学生
# 持有租约，笔记本就在这里停下，并说明是谁、到何时为止。无论之后发生什么，清理步骤都会恢复
# 你切断的链路并归还租约。本地运行环境中的边缘节点都只属于你，不需要租约。

# %% id="l1"
import getpass

shop = cut_edge or lab.edge_names()[0]
verify_scope = verify or ("document" if target == "cluster" else "warehouse")
me = str(student or getpass.getuser())
lease_s = int(warmup_s + outage_s + after_s + restart_outage_s + 600)
results.on_teardown(lambda: lab.link(shop).up() if target == "cluster" else
                    [link.up() for link in lab.links().values()], "restore the cut link")
if target == "cluster":
    from edgelab.targets.lease import LeaseRefused

    leases = lab.leases()
    try:
        lease = leases.acquire(shop, me, lease_s)
        leased, lease_note = True, lease.message
    except LeaseRefused as refused:
        leased, lease_note = False, str(refused)
    if leased:
        results.on_teardown(lambda: leases.release(shop, me), "give the edge lease back")
    results.record("lease", {"edge": shop, "student": me, "leased": leased, "note": lease_note})
    results.check(
        "edge leased to you",
        leased,
        success=_(f"{lease_note}", zh=f"已租用 {shop}（{me}），租期 {lease_s} 秒"),
        hint=_("Another student holds this edge: set the parameter `cut_edge` to a free one (your "
               "instructor's table), or wait until the lease expires.",
               zh="另一名学生正在使用这个边缘节点：把参数 `cut_edge` 设为空闲的节点（见教师给出的"
               "分配表），或等租约到期。"),
        observed=lease_note,
    )
    if not leased:
        raise RuntimeError(lease_note)
else:
    results.skip("edge leased to you",
                 _("local target: this lab's edges are yours alone, no lease is needed",
                   zh="本地运行环境：这个实验环境的边缘节点只属于你，不需要租约"))
print(f"edge {shop}, verification per {verify_scope}")

# %% [markdown] id="p1"
# ## Phase 2 · Your prediction
#
# The experiment below lets clerks work for `warmup_s` seconds, cuts the link for `outage_s`
# seconds (`mode`), and restores it. Before you run it, write down in the next cell:
#
# - `predicted_read_success`: the share of reads (0 to 1) that will still succeed during the
#   outage;
# - `predicted_detection_s`: how many seconds after the cut the edge will notice that the cloud
#   is gone and answer from its store;
# - `predicted_drain_s`: how many seconds after the link is back the outbox will be empty.
#
# Your predictions are recorded and shown beside the measured values below and in the report.
# They are not graded for being right, only for being there.

# %% [markdown] id="p1" lang="zh-CN"
# ## 阶段 2 · 你的预测
#
# 下面的实验先让店员工作 `warmup_s` 秒，然后把链路切断 `outage_s` 秒（`mode`），再恢复。
# 运行之前，请在下一个单元格中写下：
#
# - `predicted_read_success`：断网期间仍能成功的读请求比例（0 到 1）；
# - `predicted_detection_s`：切断后多少秒边缘会发现云端不可达，并改由本地存储应答；
# - `predicted_drain_s`：链路恢复后多少秒发件箱会排空。
#
# 你的预测会被记录，并在下文和报告中与实测值并列显示。评分只看是否作了预测，不看是否预测正确。

# %% id="p2" answer="prediction"
predicted_read_success = None  # e.g. 0.5
predicted_detection_s = None  # seconds
predicted_drain_s = None  # seconds

# %% id="p2" solution=true
predicted_read_success = 0.95  # most reads are for cached products
predicted_detection_s = 1.0  # the prober checks the cloud about once a second
predicted_drain_s = 2.0  # a few dozen queued writes, replayed in parallel

# %% id="p3"
answers.predict(
    results, lang=lang, read_success=predicted_read_success,
    detection_s=predicted_detection_s, drain_s=predicted_drain_s,
)

# %% [markdown] id="c09"
# ## Phase 3 · Run the experiment
#
# `disconnection()` does, for every shop at once: a **warm-up** (browse the catalogue and
# stock through the edge, so the cache holds it); a **workload** of clerks (browse, look up
# products and stock; `write_share` of the requests sell or receive goods) with the link cut
# after `warmup_s` and restored `outage_s` later; a **drain** (until every outbox is empty);
# a **verification** against the cloud (every write the shop accepted is there exactly once;
# balances add up); and the **baseline** (the same workload straight to the cloud, no cache).

# %% [markdown] id="c09" lang="zh-CN"
# ## 阶段 3 · 运行实验
#
# `disconnection()` 对所有门店同时执行：**预热**（经边缘浏览商品目录和库存，让缓存存下
# 它们）；店员的**工作负载**（浏览、查询商品和库存；其中 `write_share` 比例的请求是销售
# 或收货），`warmup_s` 秒后切断链路，`outage_s` 秒后恢复；**排空**（直到每个发件箱为空）；
# 对照云端**验证**（门店接受的每笔写入都恰好存在一次，库存余额一致）；以及**基线**（同样
# 的负载直接发往云端，不经缓存）。

# %% id="c10" tags=["raw-data"]
on_cluster = target == "cluster"
run = disconnection(
    lab, outage_s=outage_s, warmup_s=warmup_s, after_s=after_s, mode=mode,
    concurrency=concurrency, baseline=baseline, seed=seed, drain_timeout_s=drain_timeout_s,
    mix=steps.shop_mix(write_share), clerk_rate_per_s=clerk_rate_per_s,
    edges=[shop] if on_cluster else None, verify=verify_scope,
    control_plane=lab.control_plane_sampler(control_plane_interval_s) if on_cluster else None,
)
run.save(results.dir)
summary = results.record("experiment", run.summary)
{k: summary[k] for k in ("requests", "reads_during_outage", "read_success_rate_during_outage",
                         "writes_during_outage", "writes_accepted_during_outage",
                         "drained", "drain_time_s", "verification_passed")}

# %% [markdown] id="c11"
# ## Phase 4 · Reads during the outage
#
# *What you should see:* almost every read succeeded during the outage, most of them marked
# `X-Edge-Cache: OFFLINE-HIT` (with an `Age` header): the edge's prober noticed that the cloud
# was gone and the edge answered from its store without waiting for the cloud, as long as the
# stored copy was younger than `max_offline_stale_s`. A few reads may be `503` for URLs that
# were never cached.

# %% [markdown] id="c11" lang="zh-CN"
# ## 阶段 4 · 断网期间的读请求
#
# *你应当看到：* 断网期间几乎所有读请求都成功了，大多标记为 `X-Edge-Cache: OFFLINE-HIT`
# （带 `Age` 头）：边缘的探测器发现云端不可达，于是边缘直接用本地存储应答，不再等待云端，
# 只要存储的副本比 `max_offline_stale_s` 新。少数从未缓存过的 URL 可能返回 `503`。

# %% id="c12"
answers.compare(results, "read_success", predicted_read_success,
                summary["read_success_rate_during_outage"], lang=lang)
results.check(
    "reads served during the outage",
    (summary["read_success_rate_during_outage"] or 0) >= min_read_success,
    success=_(f"{summary['reads_ok_during_outage']}/{summary['reads_during_outage']} reads "
              "answered while the WAN was down",
              zh=f"广域网断开期间应答了 {summary['reads_ok_during_outage']}/"
              f"{summary['reads_during_outage']} 个读请求"),
    hint=_("Reads fail offline when nothing is cached (warm-up; entries the change feed "
           "evicted) or the stored copy is older than the offline licence "
           "(max_offline_stale_s).",
           zh="离线时读请求失败的原因：没有缓存（预热不足；条目被变更流淘汰），或存储的副本"
           "超过了离线许可期（max_offline_stale_s）。"),
    observed=summary["read_success_rate_during_outage"],
)
results.check(
    "offline hits",
    summary["offline_hits_during_outage"] > 0,
    success=_(f"{summary['offline_hits_during_outage']} responses marked OFFLINE-HIT",
              zh=f"{summary['offline_hits_during_outage']} 个响应标记为 OFFLINE-HIT"),
    hint=_("No OFFLINE-HIT: the edge never went offline. Did the link really go down?",
           zh="没有 OFFLINE-HIT：边缘从未进入离线状态。链路真的断开了吗？"),
    observed=summary["cache_status_during_outage"],
)

# %% [markdown] id="e1"
# ## Exercise (graded) · How fast did the edge notice?
#
# `requests.csv` has one row per request: `t` (seconds since the workload started), `variant`
# (`edge` or `no-cache`), `method`, `status`, `cache_status` (the `X-Edge-Cache` header), …
# `summary["t_cut"]` is the moment the link was cut, on the same clock.
#
# Complete `detection_delay(requests, t_cut)`: return the seconds from `t_cut` to the **first**
# request of the `edge` variant, at or after `t_cut`, that was answered `OFFLINE-HIT`
# (None when there is none). Use pandas only; do not call `edgelab` in your answer.
# `edgelab check` grades it by calling your function on the recorded CSV in a separate
# process and comparing with its own computation (± 0.01 s).
#
# Then rerun the notebook with `mode = "blackhole"` (packets dropped instead of refused) and
# compare the delays.

# %% [markdown] id="e1" lang="zh-CN"
# ## 练习（计分）· 边缘多快发现断网？
#
# `requests.csv` 每行一个请求：`t`（工作负载开始后的秒数）、`variant`（`edge` 或
# `no-cache`）、`method`、`status`、`cache_status`（`X-Edge-Cache` 头）……
# `summary["t_cut"]` 是链路被切断的时刻，使用同一时钟。
#
# 完成 `detection_delay(requests, t_cut)`：返回从 `t_cut` 到 `edge` 变体中、在 `t_cut`
# 时或之后**第一个**以 `OFFLINE-HIT` 应答的请求所经过的秒数（没有则返回 None）。只用
# pandas，答案中不要调用 `edgelab`。`edgelab check` 会在单独的进程中用记录的 CSV 调用你的
# 函数，并与它自己的计算结果比较（± 0.01 秒）。
#
# 然后用 `mode = "blackhole"`（丢弃数据包而不是拒绝连接）重新运行笔记本，比较两种延迟。

# %% id="e2" answer="exercise"
import pandas as pd


def detection_delay(requests: pd.DataFrame, t_cut: float) -> float | None:
    # your code: the first OFFLINE-HIT of the edge variant at or after t_cut, minus t_cut
    return None

# %% id="e2" solution=true
import pandas as pd


def detection_delay(requests: pd.DataFrame, t_cut: float) -> float | None:  # noqa: F811
    edge = requests[requests["variant"] == "edge"]
    offline = edge[(edge["t"] >= t_cut) & (edge["cache_status"] == "OFFLINE-HIT")]
    if offline.empty:
        return None
    return float(offline["t"].min() - t_cut)

# %% id="e3"
import pandas as pd

recorded = pd.read_csv(results.file("requests.csv"))
expected_delay = outage.detection_delay(recorded, summary["t_cut"])
answers.exercise(
    results, "exercise: detection delay", globals().get("detection_delay"),
    (recorded, summary["t_cut"]),
    expected_delay, tolerance=0.01, lang=lang,
    success=_("your detection_delay() = {got} s, as measured",
              zh="你的 detection_delay() = {got} 秒，与实测一致"),
    hint=_("Filter variant == 'edge', t >= t_cut and cache_status == 'OFFLINE-HIT'; "
           "take the smallest t and subtract t_cut.",
           zh="筛选 variant == 'edge'、t >= t_cut 且 cache_status == 'OFFLINE-HIT' 的行；"
           "取最小的 t 再减去 t_cut。"),
)
answers.compare(results, "detection_s", predicted_detection_s, expected_delay, " s", lang=lang)

# %% [markdown] id="c13"
# ## Phase 5 · Writes: queued, replayed, applied exactly once
#
# *What you should see:* every write during the outage accepted (202): it went into the edge's
# **outbox** (SQLite, fsynced before the clerk got `202 Accepted`). When the link came back,
# the edge replayed the outbox with each write's `Idempotency-Key`, so a replay that the cloud
# had already applied (say, the answer was lost on the way back) is not applied twice. The
# outboxes drained within seconds, and the verification passed: each accepted write applied
# exactly once, balances consistent.

# %% [markdown] id="c13" lang="zh-CN"
# ## 阶段 5 · 写请求：排队、重放、恰好应用一次
#
# *你应当看到：* 断网期间的每个写请求都被接受（202）：它进入了边缘的**发件箱**（SQLite，
# 在店员收到 `202 Accepted` 之前已 fsync）。链路恢复后，边缘带着每笔写入的
# `Idempotency-Key`（幂等键）重放发件箱，所以云端已经应用过的重放（比如回程应答丢失）
# 不会被应用两次。发件箱在几秒内排空，验证通过：每笔被接受的写入恰好应用一次，余额一致。

# %% id="c14"
accepted = summary["writes_accepted_during_outage"]
results.check(
    "writes accepted during the outage",
    summary["writes_during_outage"] > 0 and accepted == summary["writes_during_outage"],
    success=_(f"{accepted} writes queued in the outbox (202) while offline",
              zh=f"离线期间 {accepted} 笔写入进入发件箱（202）"),
    hint=_("507 answers mean the outbox was full (outbox_max_entries); 5xx means the edge "
           "forwarded instead of queueing.",
           zh="507 表示发件箱已满（outbox_max_entries）；5xx 表示边缘转发了请求而没有排队。"),
    observed=f"{accepted}/{summary['writes_during_outage']} accepted",
)
results.check(
    "outboxes drained",
    bool(summary["drained"]),
    success=_(f"drained {summary['drain_time_s'] or 0:.1f} s after the link came back",
              zh=f"链路恢复后 {summary['drain_time_s'] or 0:.1f} 秒排空"),
    hint=_("Look at outbox.csv and the edge's /_edge/outbox?state=dead for dead letters.",
           zh="查看 outbox.csv 和边缘的 /_edge/outbox?state=dead（死信）。"),
)
results.check(
    "every write applied exactly once",
    bool(summary["verification_passed"]),
    success=_(f"{summary['writes_applied']} writes applied, 0 lost, 0 duplicated",
              zh=f"应用了 {summary['writes_applied']} 笔写入，0 丢失，0 重复"),
    hint=_("writes.csv lists every write and how often the cloud applied it. 'Still "
           "queued' writes are not lost: the edge holds them (raise drain_timeout_s).",
           zh="writes.csv 列出了每笔写入以及云端应用它的次数。“仍在排队”的写入没有丢失："
           "边缘还保存着它们（增大 drain_timeout_s）。"),
    observed={"lost": summary["writes_lost"], "still_queued": summary.get("writes_still_queued"),
              "duplicated": summary["writes_duplicated"],
              "reasons": summary["verification_reasons"]},
)
answers.compare(results, "drain_s", predicted_drain_s, summary["drain_time_s"], " s", lang=lang)

# %% [markdown] id="c15"
# ## Phase 6 · The same shop without an edge cache
#
# *What you should see:* the baseline sent the same kind of workload straight to the cloud
# through the same links; during the outage almost every request failed. Without a local copy
# and a local queue, a cut WAN means a closed shop.

# %% [markdown] id="c15" lang="zh-CN"
# ## 阶段 6 · 没有边缘缓存的同一家门店
#
# *你应当看到：* 基线把同样的负载经同样的链路直接发往云端；断网期间几乎所有请求都失败了。
# 没有本地副本和本地队列，广域网一断，门店就只能关门。

# %% id="c16"
base = summary.get("baseline") or {}
if baseline and "read_success_rate_during_outage" in base:
    results.record("baseline_read_success", base["read_success_rate_during_outage"])
    results.check(
        "the edge beats no cache during the outage",
        (base["read_success_rate_during_outage"] or 0)
        < (summary["read_success_rate_during_outage"] or 0),
        success=_(f"reads OK during the outage: edge "
                  f"{summary['read_success_rate_during_outage']:.0%} vs no cache "
                  f"{base['read_success_rate_during_outage'] or 0:.0%}",
                  zh=f"断网期间读成功率：边缘 {summary['read_success_rate_during_outage']:.0%}，"
                  f"无缓存 {base['read_success_rate_during_outage'] or 0:.0%}"),
        hint=_("The baseline should fail while the link is down; was the outage too short?",
               zh="链路断开时基线应当失败；断网时间是否太短？"),
    )
elif baseline:
    results.skip("the edge beats no cache during the outage",
                 _(f"no baseline on this target: {base.get('skipped', 'not measured')}",
                   zh=f"此运行环境（{target}）没有基线：这里没有任何客户端经被切断的边缘链路访问云端。在集群上，"
                   "客户端运行在你的电脑上，它到云端的路径从不会被切断，所以从这里运行的无缓存"
                   "对照根本看不到断网（它必须在边缘节点上运行）"))
else:
    results.skip("the edge beats no cache during the outage",
                 _("baseline = False", zh="baseline = False（未运行基线）"))

# %% [markdown] id="r0"
# ## Phase 7 · The edge process is killed while offline
#
# On a cluster the question is whether the *pods* come back after a restart while offline
# (EdgeCore: yes, from local metadata; a K3s agent: not until the API server is reachable).
# On the local target there is no node agent, but the part that matters to the shop is the
# same: when the edge-cache process dies (`kill -9`, no clean shutdown) in the middle of an
# outage and starts again, do the sales it accepted before it died survive?
#
# We run the experiment again and, half-way through the outage, kill the edge with SIGKILL and
# start it again (with `lose_outbox = True` its outbox database is deleted as well: the
# negative control). **Predict** first: with the durable outbox, how many accepted writes will
# be lost? And with `lose_outbox = True`?
#
# On a cluster the outage lasts `restart_outage_s` (120 s: long enough for the node to go
# `NotReady` after 50 s) and, half-way, `playbooks/restart-edge.yml` restarts your edge node
# as a power cut would (node agent stopped, every container killed with SIGKILL, agent started
# again) while the link stays cut. Then we watch whether the edge cache answers again
# *before* the link is back.

# %% [markdown] id="r0" lang="zh-CN"
# ## 阶段 7 · 离线期间边缘进程被杀掉
#
# 在集群上，问题是断网期间重启后 *Pod* 能否回来（EdgeCore：能，依靠本地元数据；K3s agent：
# 要等到能连上 API server）。本地运行环境没有节点代理，但对门店重要的部分是一样的：
# edge-cache 进程在断网中途死掉（`kill -9`，没有正常关闭）并重新启动后，它死前接受的销售
# 还在吗？
#
# 我们再运行一次实验，在断网进行到一半时用 SIGKILL 杀掉边缘进程并重新启动（若
# `lose_outbox = True`，它的发件箱数据库也会被删除：反向对照）。先**预测**：有持久发件箱
# 时，会丢失多少笔已接受的写入？`lose_outbox = True` 时呢？
#
# 在集群上，断网持续 `restart_outage_s`（120 秒：足够让节点在 50 秒后变为 `NotReady`），
# 进行到一半时 `playbooks/restart-edge.yml` 像断电一样重启你的边缘节点（停止节点代理、用
# SIGKILL 杀掉所有容器、再启动代理），链路保持切断。然后观察边缘缓存是否在链路恢复*之前*
# 重新应答。

# %% id="r1" answer="prediction"
predicted_lost_after_crash = None  # accepted writes lost after kill -9 (durable outbox)

# %% id="r1" solution=true
predicted_lost_after_crash = 0  # the outbox is fsynced before 202 is sent

# %% id="r2" tags=["raw-data"]
crash = None
if target == "local" and restart_phase:
    shop = lab.edge_names()[0]
    queued_at_kill: list[int] = []

    def kill_edge() -> None:
        # kill only once a sale is queued: killing an empty outbox would prove nothing
        queued_at_kill.append(wait_queued(lab.endpoints().edges[shop], at_least=1,
                                          timeout_s=outage_s / 4))
        lab.restart_edge(shop, crash=True, lose_outbox=lose_outbox)

    crash = disconnection(
        lab, outage_s=outage_s, warmup_s=warmup_s, after_s=after_s, mode=mode, edges=[shop],
        concurrency=concurrency, baseline=False, seed=seed + 1, drain_timeout_s=drain_timeout_s,
        mix=steps.shop_mix(write_share), disruption=kill_edge, warm_products=10,
        clerk_rate_per_s=clerk_rate_per_s,
    )
elif target == "cluster" and restart_phase:
    from edgelab.experiments.offline_restart import OfflineRestart

    leases.acquire(shop, me, lease_s)  # renew: this run cuts the link again
    probe = OfflineRestart(lambda: lab.restart_edge(shop), lab.endpoints().edges[shop],
                           window_s=restart_outage_s / 2 - 10)
    crash = disconnection(
        lab, outage_s=restart_outage_s, warmup_s=warmup_s, after_s=after_s, mode=mode,
        edges=[shop], concurrency=concurrency, baseline=False, seed=seed + 1,
        drain_timeout_s=drain_timeout_s or 300, mix=steps.shop_mix(write_share),
        disruption=probe, warm_products=10, clerk_rate_per_s=clerk_rate_per_s,
        verify=verify_scope, control_plane=lab.control_plane_sampler(control_plane_interval_s),
    )
    crash.summary["offline_restart"] = {**probe.summary(), "flavor": lab.flavor()}
if crash is not None:
    if target == "local":
        crash.summary["queued_at_kill"] = queued_at_kill[0] if queued_at_kill else 0
    crash.save(results.file("crash"))
    crash_summary = results.record("crash_experiment", crash.summary)
    display({k: crash_summary[k] for k in ("writes_during_outage",
                                           "writes_accepted_during_outage", "writes_lost",
                                           "writes_duplicated", "verification_passed")})

# %% id="r3"
if crash is not None and crash_summary.get("queued_at_kill", 1) == 0:
    results.skip("queued writes survive kill -9 while offline",
                 _("no sale was queued when the edge was killed, so nothing could be lost; "
                   "raise write_share or clerk_rate_per_s",
                   zh="杀掉边缘时没有排队的销售，因此不会丢失任何东西；请调高 write_share 或 "
                   "clerk_rate_per_s"))
elif crash is not None:
    answers.compare(results, "lost_after_crash", predicted_lost_after_crash,
                    crash_summary["writes_lost"], lang=lang)
    results.check(
        "queued writes survive kill -9 while offline",
        bool(crash_summary["verification_passed"]),
        success=_(f"edge killed and restarted offline: {crash_summary['writes_applied']} writes "
                  "applied, 0 lost, 0 duplicated",
                  zh=f"离线时边缘被杀掉并重启：应用了 {crash_summary['writes_applied']} 笔写入，"
                  "0 丢失，0 重复"),
        hint=_("Lost writes after the restart: the outbox was not on durable storage "
               "(lose_outbox = True deletes it on purpose). Accepting a sale (202) is a "
               "promise; it is only safe once the write is on disk.",
               zh="重启后丢失了写入：发件箱不在持久存储上（lose_outbox = True 会故意删除它）。"
               "接受一笔销售（202）是一个承诺；只有写入落盘之后才是安全的。"),
        observed=crash_summary["verification_reasons"],
    )
else:
    results.skip("queued writes survive kill -9 while offline",
                 _("restart_phase = False", zh="restart_phase = False（未运行此阶段）"))

# %% id="r4"
if crash is not None and "offline_restart" in crash_summary:
    from edgelab.experiments.offline_restart import judge_offline_restart

    restart = crash_summary["offline_restart"]
    verdict = judge_offline_restart(restart["flavor"], bool(restart["answered_offline"]),
                                    restart["answered_after_s"], restart["error"])
    results.check(
        "edge node restarted offline behaves as its flavor",
        verdict.passed,
        success=_("KubeEdge: the edge cache answered again while still offline (EdgeCore "
                  "restarted it from MetaManager's local metadata)" if verdict.expected_back
                  else "K3s: the edge cache stayed down while offline (the agent cannot get "
                  "its pods without the API server); it came back with the link",
                  zh="KubeEdge：重启后仍在离线状态，边缘缓存就重新应答了（EdgeCore 依靠 "
                  "MetaManager 的本地元数据重启了它）" if verdict.expected_back else
                  "K3s：离线期间边缘缓存一直没有恢复（没有 API server，agent 拿不到自己的 "
                  "Pod）；链路恢复后它才回来"),
        hint=_(f"{verdict.message}", zh=f"与 {restart['flavor']} 的预期不符：{verdict.message}"),
        observed=restart,
    )
elif target == "cluster":
    results.skip("edge node restarted offline behaves as its flavor",
                 _("restart_phase = False", zh="restart_phase = False（未运行此阶段）"))
else:
    results.skip("edge node restarted offline behaves as its flavor",
                 _("local target: there is no node agent to restart; the kill -9 above is the "
                   "local equivalent for the outbox", zh="本地运行环境：没有可重启的节点代理；"
                   "上面的 kill -9 是发件箱在本地的对应实验"))

# %% [markdown] id="c17"
# ## Phase 8 · Did Kubernetes touch the edge pods? (cluster target only)
#
# The control plane was sampled every `control_plane_interval_s` during both runs
# (`control_plane.csv`; the strip under the request timeline has a *node* row, green while
# `Ready`, and a *canary* row: an ordinary Deployment's pod pinned to your edge).
#
# *What you should see:* in the 120 s run the node turned `NotReady` (Ready `Unknown`, taint
# `node.kubernetes.io/unreachable`) about 50 s after the cut, and the canary was **not**
# evicted: an ordinary pod tolerates that taint for 300 s (after 50 + 300 s it would be, on
# K3s and KubeEdge alike). The edge-cache pods kept their uid, on both flavors, for any outage
# length: they belong to a DaemonSet, which tolerates the taint forever (the restart phase
# restarts their containers, not the pods). On the local target there are no pods.

# %% [markdown] id="c17" lang="zh-CN"
# ## 阶段 8 · Kubernetes 动了边缘 Pod 吗？（仅集群运行环境）
#
# 两次运行期间每隔 `control_plane_interval_s` 秒对控制面采样一次（`control_plane.csv`；
# 请求时间线下方的条带有一行 *node*，节点 `Ready` 时为绿色，还有一行 *canary*：固定在你的
# 边缘节点上的一个普通 Deployment 的 Pod）。
#
# *你应当看到：* 在 120 秒的那次运行中，节点在切断后约 50 秒变为 `NotReady`（Ready 为
# `Unknown`，污点 `node.kubernetes.io/unreachable`），而 canary **没有**被驱逐：普通 Pod
# 对该污点容忍 300 秒（50 + 300 秒之后才会被驱逐，K3s 和 KubeEdge 都一样）。无论断网多久，
# 两种发行版上的 edge-cache Pod 都保持相同的 uid：它们属于 DaemonSet，永久容忍该污点（重启
# 阶段重启的是它们的容器，而不是 Pod）。本地运行环境没有 Pod。

# %% id="c18"
if pods_before is not None:
    pods_after = cluster.edge_pods(k8s)
    display(pods_after)
    mine = pods_before[pods_before["node"] == shop]
    kept = set(mine["uid"]) <= set(pods_after["uid"]) and bool(
        run.summary["control_plane"]["nodes"][shop]["edge_cache_same_pod"])
    restarts = int(pods_after["restarts"].sum() - pods_before["restarts"].sum())
    results.check(
        "edge pods kept running",
        kept and (restarts == 0 or crash is not None),
        success=_("same edge-cache pods, no restarts (DaemonSet pods are never evicted)",
                  zh="同样的 edge-cache Pod，没有重启（DaemonSet 的 Pod 从不被驱逐）"),
        hint=_("New pod uids: someone deleted or rolled the DaemonSet during the outage "
               "(eviction does not apply to DaemonSet pods).",
               zh="Pod uid 变了：断网期间有人删除或滚动更新了 DaemonSet（驱逐不适用于 "
               "DaemonSet 的 Pod）。"),
        observed={"same_pods": kept, "new_restarts": restarts,
                  "restarted_on_purpose": crash is not None},
    )
    long_run = crash_summary if crash is not None else run.summary
    facts = long_run["control_plane"]["nodes"][shop]
    long_s = float(long_run["outage_s"])
    results.record("control_plane", {"outage_s": long_s, **facts})
    if long_s >= 50 + 2 * control_plane_interval_s + 10:
        results.check(
            "control plane saw the cut node NotReady",
            facts["not_ready_after_s"] is not None,
            success=_(f"NotReady {facts['not_ready_after_s'] or 0:.0f} s after the cut "
                      "(node-monitor-grace-period 50 s on Kubernetes 1.32)",
                      zh=f"切断后 {facts['not_ready_after_s'] or 0:.0f} 秒变为 NotReady"
                      "（Kubernetes 1.32 的 node-monitor-grace-period 为 50 秒）"),
            hint=_("Not NotReady within the outage: was the link to the API server (6443) cut "
                   "too? See control_plane.csv.",
                   zh="断网期间节点没有变为 NotReady：到 API server（6443）的链路也被切断了吗？"
                   "查看 control_plane.csv。"),
            observed=facts,
        )
        from edgelab.experiments.control_plane import expected_canary_evicted

        evict = expected_canary_evicted(long_s)
        if evict is None:
            results.skip("canary evicted only after its toleration",
                         _(f"an outage of {long_s:g} s is too close to 50 + 300 s to say",
                           zh=f"{long_s:g} 秒的断网太接近 50 + 300 秒，无法判断"))
        else:
            results.check(
                "canary evicted only after its toleration",
                (facts["canary_evicted_after_s"] is not None) == evict,
                success=_(f"canary {'evicted' if evict else 'kept'} after a {long_s:g} s "
                          "outage (default toleration 300 s after NotReady)",
                          zh=f"断网 {long_s:g} 秒后 canary "
                          f"{'被驱逐' if evict else '仍在运行'}（NotReady 之后默认容忍 300 秒）"),
                hint=_("The canary's eviction time does not match 50 s + 300 s: check its "
                       "tolerations (kubectl get pod -o yaml) and the cluster's "
                       "node-monitor-grace-period.",
                       zh="canary 的驱逐时间与 50 + 300 秒不符：检查它的容忍设置"
                       "（kubectl get pod -o yaml）以及集群的 node-monitor-grace-period。"),
                observed=facts,
            )
    else:
        for name in ("control plane saw the cut node NotReady",
                     "canary evicted only after its toleration"):
            results.skip(name, _(f"the longest outage was {long_s:g} s, shorter than "
                                 "node-monitor-grace-period (50 s) + sampling: set "
                                 "restart_phase = True or a longer outage_s",
                                 zh=f"最长的断网只有 {long_s:g} 秒，短于 node-monitor-grace-period"
                                 "（50 秒）加采样间隔：设置 restart_phase = True 或更长的 "
                                 "outage_s"))
else:
    for name in ("edge pods kept running", "control plane saw the cut node NotReady",
                 "canary evicted only after its toleration"):
        results.skip(name, _("local target: the edges are processes, not pods; there is no "
                             "control plane", zh="本地运行环境：边缘是进程，不是 Pod；"
                             "没有控制面"))

# %% [markdown] id="c19"
# ## Plots
#
# `run.save()` wrote the tables (`requests.csv`, `outbox.csv`, `writes.csv`, `summary.json`)
# and these figures into `results_dir`: the request timeline with the online/offline strip,
# the detection and drain marks, the outbox depth over time, and latency by cache status.

# %% [markdown] id="c19" lang="zh-CN"
# ## 图表
#
# `run.save()` 把数据表（`requests.csv`、`outbox.csv`、`writes.csv`、`summary.json`）和下列
# 图写入 `results_dir`：带在线/离线条带以及检测和排空标记的请求时间线、发件箱深度随时间
# 的变化、按缓存状态划分的延迟分布。

# %% id="c20"
for plot in run.plots + (crash.plots if crash is not None else []):
    print(plot.name)
    display(Image(filename=str(plot)))

# %% [markdown] id="c21"
# ## Explain
#
# Answer each question in the cell below it (two to four sentences). Your answers are
# collected into the report of `edgelab check`.
#
# 1. Which reads failed during the outage, and why? What would you cache on purpose before
#    closing time if you expected a long outage?

# %% [markdown] id="c21" lang="zh-CN"
# ## 解释
#
# 在每个问题下面的单元格中作答（两到四句话）。你的答案会被收集到 `edgelab check` 的报告中。
#
# 1. 断网期间哪些读请求失败了，为什么？如果预计会长时间断网，你会在打烊前特意缓存什么？

# %% [markdown] id="a1" answer="reflection"
# *Your answer:*

# %% [markdown] id="a1" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="q2"
# 2. Compare your predictions with the measured values above. Which one was furthest off, and
#    what did you not take into account?

# %% [markdown] id="q2" lang="zh-CN"
# 2. 把你的预测与上面的实测值比较。哪一个偏差最大？你忽略了什么？

# %% [markdown] id="a2" answer="reflection"
# *Your answer:*

# %% [markdown] id="a2" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="q3"
# 3. The outbox answers `507` when full instead of dropping the oldest write, and it fsyncs
#    before answering `202`. What would a clerk and the cloud see if it did either of these
#    differently? (Phase 7 with `lose_outbox = True` shows one case.)

# %% [markdown] id="q3" lang="zh-CN"
# 3. 发件箱满时应答 `507`，而不是丢弃最旧的写入；并且在应答 `202` 之前先 fsync。如果它在
#    这两点上换一种做法，店员和云端会看到什么？（阶段 7 中 `lose_outbox = True` 展示了
#    其中一种情况。）

# %% [markdown] id="a3" answer="reflection"
# *Your answer:*

# %% [markdown] id="a3" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="q4"
# 4. Your shops run on K3s agents, the WAN is down for 10 minutes, and at minute 4 a shop's
#    node reboots. What happens to the edge-cache pod, and to an ordinary Deployment's pod on
#    that node, at minute 5 and after the reboot? What would be different on KubeEdge?

# %% [markdown] id="q4" lang="zh-CN"
# 4. 你的门店运行在 K3s agent 上，广域网断开 10 分钟，第 4 分钟时一家门店的节点重启。在
#    第 5 分钟以及重启之后，该节点上的 edge-cache Pod 和一个普通 Deployment 的 Pod 分别会
#    怎样？换成 KubeEdge 会有什么不同？

# %% [markdown] id="a4" answer="reflection"
# *Your answer:*

# %% [markdown] id="a4" lang="zh-CN"
# *你的答案：*

# %% [markdown] id="c22"
# ## Summary
#
# The table lists every check of this notebook. `results.json` in `results_dir` holds the same
# table plus every recorded value; `edgelab check` grades from the raw data files instead.

# %% [markdown] id="c22" lang="zh-CN"
# ## 小结
#
# 下表列出本笔记本的所有检查。`results_dir` 中的 `results.json` 包含同样的表格和每个记录的
# 值；`edgelab check` 则根据原始数据文件评分。

# %% id="c23"
results.record("all_checks_passed", results.all_passed)
results.summary()

# %% [markdown] id="c24"
# ## Teardown
#
# Stops what this notebook started (on the local target: the lab's processes; their data and
# logs stay in `lab_dir`) and restores a cut link. Safe to run twice, and safe after a failed
# cell. On a cluster nothing is removed (the instructor owns it): the link you cut is restored
# and your edge lease is given back. Set `cleanup = False` to keep
# the lab running after the notebook (then run `edgelab down` yourself).

# %% [markdown] id="c24" lang="zh-CN"
# ## 清理
#
# 停止本笔记本启动的一切（本地运行环境：实验环境的进程；它们的数据和日志保留在 `lab_dir`
# 中），并恢复被切断的链路。运行两次是安全的，某个单元格失败后运行也是安全的。在集群上不会
# 删除任何东西（集群归教师管理）：会恢复你切断的链路并归还你的边缘租约。
# 设置 `cleanup = False` 可在笔记本结束后保持实验环境运行（之后请自己运行 `edgelab down`）。

# %% tags=["teardown"] id="c25"
results.teardown()
