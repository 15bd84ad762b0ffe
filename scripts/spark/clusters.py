"""Bitcoin multi-input clusters and haircut exposure from chainsleuth's
Parquet export, on Spark.

    spark-submit scripts/spark/clusters.py --export DIR --out RESULT \
        [--exposure ADDRESS ...] [--max-hops 10] [--guard-size 10000] \
        [--clustered-height H] [--shuffle-partitions 8]

(--export, --out and --guard-size may be repeated to run several exports in
one Spark session.)

Reads DIR/btc/{inputs,outputs}, DIR/tags/snapshot=*/labels.parquet (the
latest snapshot) and the partition manifests, and writes:

- RESULT/clusters/ (Parquet): `address`, `cluster` (the smallest address of
  its cluster) for every address in a cluster of two or more;
- RESULT/coinjoins/ (Parquet): `txid`, `kind` of the transactions left out
  as CoinJoins, and `txid`, `kind` = `super_cluster` of those the guard
  stopped;
- RESULT/exposure.json: per address asked, its exposure (what it received,
  traced backward under haircut), as `chainsleuth exposure --json` gives it.

The rules are chainsleuth's own (crates/btc/src/index/coinjoin.rs and
cluster.rs, crates/trace/src/backward.rs and exposure.rs):

Clustering. All distinct input addresses of a transaction share an owner,
except in transactions of a CoinJoin shape (Whirlpool, Wasabi 2, Wasabi 1,
BlockSci's rule, JoinMarket), and except a transaction that would merge two
clusters each larger than the guard size (10,000), which merges nothing.
Only blocks up to the store's clustered height are clustered (clustering
runs a few blocks behind the tip; the manifest records the height). The
components are found by min-label propagation over the address-transaction
graph until a fixpoint. The guard depends on the order of merges, so a
component big enough to hold two clusters over the guard (more than twice
the guard size) is replayed in transaction order, one task per component,
exactly as the indexer merges; smaller components cannot trip it.

Exposure (received, haircut, stopping at any labelled address). Labels are
an address's own (the labels table), else its cluster's: of the cluster's
labelled members, off-ramps first, then the smallest address. The backward
trace's reachable transactions (within the hop limit, through unlabelled
inputs) are found with joins, one frontier per hop for all addresses at
once; then each address's demands are split newest transaction first with
floor(demand * v_j / V) in exact integers, one task per address.
"""

import argparse
import glob
import heapq
import json
import os
import sys
import time
from collections import Counter

from pyspark.sql import SparkSession, Window, functions as F, types as T

DUST_LIMIT = 546
PROTOCOL_DUST = 2_730
WHIRLPOOL_POOLS = (100_000, 1_000_000, 5_000_000, 50_000_000)
WASABI2_MIN, WASABI2_MAX = 5_000, 1 << 37
WASABI1 = (8_000_000, 12_000_000)


# --- CoinJoin shapes (crates/btc/src/index/coinjoin.rs) ---------------------

def most_common(values):
    """The most common value and its count; the larger value on a tie."""
    if not values:
        return None
    counts = Counter(values)
    return max(counts.items(), key=lambda vc: (vc[1], vc[0]))


def is_dust(v):
    return v <= DUST_LIMIT or v == PROTOCOL_DUST


def _power_of(n, base):
    while n % base == 0:
        n //= base
    return n == 1


def is_wasabi2_denomination(v):
    if not (WASABI2_MIN <= v <= WASABI2_MAX):
        return False
    return (
        (v & (v - 1)) == 0
        or _power_of(v, 3)
        or (v % 2 == 0 and _power_of(v // 2, 3))
        or _power_of(v, 10)
        or (v % 2 == 0 and _power_of(v // 2, 10))
        or (v % 5 == 0 and _power_of(v // 5, 10))
    )


def coinjoin_kind(inputs, input_addresses, outputs):
    """The CoinJoin shape of a transaction, or None (first match in order)."""
    n_in, n_out = len(inputs), len(outputs)
    if 5 <= n_in <= 8 and n_out == n_in and outputs[0] in WHIRLPOOL_POOLS and all(v == outputs[0] for v in outputs):
        return "whirlpool"
    if n_in >= 50 and n_out > 0:
        standard = [v for v in outputs if is_wasabi2_denomination(v)]
        top = most_common(standard)
        if top is not None and top[1] >= 2 and 5 * len(standard) > 4 * n_out:
            return "wasabi2"
    top = most_common(outputs)
    if top is not None:
        value, count = top
        if count >= 10 and n_in >= count and WASABI1[0] <= value <= WASABI1[1] and n_out > count:
            return "wasabi1"
    if n_in >= 2 and n_out >= 3:
        participants = (n_out + 1) // 2
        if participants <= n_in and participants <= input_addresses and top is not None:
            if top[1] == participants and not is_dust(top[0]):
                return "blocksci"
    if top is not None:
        value, n = top
        if n >= 2 and not is_dust(value) and n_out >= 3 and n_out <= 2 * n and input_addresses >= n:
            return "joinmarket"
    return None


# --- the guard, replayed in transaction order (cluster.rs `merge`) ----------

def replay(txs, guard):
    """Clusters one component's transactions [(tx_num, txid, [address])] in
    transaction order as the indexer does; returns ([(address, root)],
    [txid stopped by the guard])."""
    parent, size, stopped = {}, {}, []

    def find(a):
        root = a
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(a, a) != root:
            parent[a], a = root, parent[a]
        return root

    for _, txid, addresses in sorted(txs):
        roots = sorted({find(a) for a in addresses}, key=lambda r: -size.get(r, 1))
        if len(roots) < 2:
            continue
        if size.get(roots[1], 1) > guard:
            stopped.append(txid)
            continue
        keeper = roots[0]
        for r in roots[1:]:
            parent[r] = keeper
            size[keeper] = size.get(keeper, 1) + size.get(r, 1)
    members = {a for _, _, addresses in txs for a in addresses}
    return [(a, find(a)) for a in members], stopped


# --- the haircut split backward (crates/trace/src/backward.rs) -------------

def backward_haircut(seed_coins, txs, labelled, max_hops):
    """Splits one address's received coins backward. `seed_coins`:
    [(tx_num, value)]; `txs`: tx_num -> (coinbase, [(prev_tx_num, address,
    value)]). Returns (seeded, [(address, amount, hops)] of labelled ends)."""
    demands, queue, ends = {}, [], []
    seeded = 0

    def ask(tx, amount, hops):
        if tx not in demands:
            demands[tx] = [0, None]
            heapq.heappush(queue, -tx)
        d = demands[tx]
        d[0] += amount
        if d[1] is None or hops < d[1]:
            d[1] = hops

    for tx, value in seed_coins:
        seeded += value
        ask(tx, value, 0)
    while queue:
        num = -heapq.heappop(queue)
        amount, hops = demands.pop(num)
        coinbase, inputs = txs[num]
        if coinbase:
            continue
        total = sum(v for _, _, v in inputs)
        hops += 1
        for prev, address, value in inputs:
            part = amount * value // total
            if part == 0 or hops > max_hops:
                continue
            if address is not None and address in labelled:
                ends.append((address, part, hops))
                continue
            ask(prev, part, hops)
    return seeded, ends


def share(part, whole):
    return 0.0 if whole == 0 else (part * 1_000_000_000 // whole) / 1e9


def exposure_of(address, seeded, ends, label_of, max_hops):
    """`chainsleuth exposure --json`'s `exposure` object."""
    by = {}
    tagged = 0
    for end_address, amount, hops in ends:
        category, entity = label_of[end_address]
        slot = by.setdefault((category, entity), [0, 0])
        slot[0 if hops <= 1 else 1] += amount
        tagged += amount
    rows = [
        {
            "category": c,
            "entity": e,
            "direct": d,
            "indirect": i,
            "total": d + i,
            "share": share(d + i, seeded),
        }
        for (c, e), (d, i) in by.items()
    ]
    rows.sort(key=lambda r: (-r["total"], r["category"], r["entity"]))
    untagged = max(seeded - tagged, 0)
    return {
        "chain": "btc",
        "address": address,
        "direction": "received",
        "max_hops": max_hops,
        "exposure": {
            "model": "haircut",
            "total": seeded,
            "rows": rows,
            "untagged": untagged,
            "untagged_share": share(untagged, seeded),
        },
    }


# --- the job ------------------------------------------------------------------

def manifests(export):
    out = []
    for path in glob.glob(os.path.join(export, "btc", "_partitions", "*.json")):
        with open(path) as f:
            out.append(json.load(f))
    return sorted(out, key=lambda m: m["from_block"])


def latest_snapshot(export):
    snapshots = sorted(glob.glob(os.path.join(export, "tags", "snapshot=*")))
    return snapshots[-1] if snapshots else None


STARTED = time.time()


def log(text):
    print(f"clusters.py: [{time.time() - STARTED:.1f} s] {text}", file=sys.stderr, flush=True)


def components(spark, membership):
    """Min-label propagation over the bipartite graph (address, tx) until no
    label changes: returns (address, component)."""
    labels = membership.select("address").distinct().withColumn("label", F.col("address"))
    for round_ in range(1, 10_000):
        by_tx = membership.join(labels, "address").groupBy("tx_num").agg(F.min("label").alias("tx_label"))
        proposed = membership.join(by_tx, "tx_num").groupBy("address").agg(F.min("tx_label").alias("new"))
        updated = (
            labels.withColumnRenamed("label", "old")
            .join(proposed, "address", "left")
            .select("address", F.least("old", F.coalesce("new", "old")).alias("label"), "old")
            .localCheckpoint()
        )
        changed = updated.filter(F.col("label") != F.col("old")).limit(1).count()
        labels = updated.select("address", "label")
        if changed == 0:
            log(f"components: fixpoint after {round_} rounds")
            return labels.withColumnRenamed("label", "component")
    raise RuntimeError("label propagation did not converge")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--export", required=True, action="append", help="the export directory (repeat for several)")
    p.add_argument("--out", required=True, action="append", help="where to write the results (one per --export)")
    p.add_argument("--exposure", nargs="*", default=[], metavar="ADDRESS", help="addresses whose exposure to compute")
    p.add_argument("--max-hops", type=int, default=10, help="exposure hop limit [10]")
    p.add_argument(
        "--guard-size", type=int, action="append", help="the super-cluster guard [10000]; once, or once per --export"
    )
    p.add_argument("--clustered-height", type=int, help="cluster blocks up to this [the manifests' clustered height]")
    p.add_argument("--master", help="Spark master when not run by spark-submit (e.g. local[2])")
    p.add_argument(
        "--shuffle-partitions", type=int, default=8, help="spark.sql.shuffle.partitions [8; raise it on a cluster]"
    )
    args = p.parse_args(argv)
    guards = args.guard_size or [10_000]
    if len(args.out) != len(args.export) or len(guards) not in (1, len(args.export)):
        p.error("give one --out per --export, and --guard-size once or once per --export")
    guards = guards * len(args.export) if len(guards) == 1 else guards
    started = time.time()
    builder = SparkSession.builder.appName("chainsleuth-clusters")
    if args.master:
        builder = builder.master(args.master)
    spark = (
        builder.config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    log(f"Spark session up in {time.time() - started:.1f} s")
    for export, out, guard in zip(args.export, args.out, guards):
        run(spark, export, out, guard, args)
    log(f"done in {time.time() - started:.1f} s")
    spark.stop()


def run(spark, export, out, guard, args):
    """Clusters (and exposures) of one export into `out`."""
    parts = manifests(export)
    if not parts:
        sys.exit(f"clusters.py: no Bitcoin partitions under {export}/btc (run chainsleuth export parquet)")
    clustered = args.clustered_height
    if clustered is None:
        clustered = parts[-1].get("clustered_height")
    clustered = -1 if clustered is None else clustered
    btc = os.path.join(export, "btc")
    read = lambda table: spark.read.option("basePath", os.path.join(btc, table)).parquet(
        os.path.join(btc, table, "block_range=*")
    )
    inputs, outputs = read("inputs"), read("outputs")

    # Candidates: transactions up to the clustered height spending from two
    # or more addresses, with their input values and output values.
    spent = inputs.filter(F.col("height") <= clustered)
    cands = (
        spent.groupBy("tx_num", "txid")
        .agg(
            F.collect_list("value_sat").alias("inputs"),
            F.array_distinct(F.collect_list("address")).alias("addresses"),
        )
        .filter(F.size("addresses") >= 2)
    )
    outs = outputs.groupBy("tx_num").agg(F.collect_list("value_sat").alias("outputs"))
    kind = F.udf(lambda i, a, o: coinjoin_kind(list(i), len(a), list(o)), T.StringType(), useArrow=False)
    cands = cands.join(outs, "tx_num").withColumn("kind", kind("inputs", "addresses", "outputs")).localCheckpoint()
    flagged = cands.filter(F.col("kind").isNotNull()).select("txid", "kind")
    merging = cands.filter(F.col("kind").isNull()).select("tx_num", "txid", "addresses")
    membership = merging.select("tx_num", F.explode("addresses").alias("address")).localCheckpoint()

    comp = components(spark, membership)
    sizes = comp.groupBy("component").agg(F.count("*").alias("size"))
    comp = comp.join(sizes, "component").localCheckpoint()
    big = comp.filter(F.col("size") > 2 * guard).select("address", "component")
    replayed = (
        merging.join(membership.join(big, "address").select("tx_num", "component").distinct(), "tx_num")
        .rdd.map(lambda r: (r["component"], (r["tx_num"], r["txid"], list(r["addresses"]))))
        .groupByKey()
        .map(lambda kv: replay(list(kv[1]), guard))
        .cache()
    )
    replay_schema = T.StructType([T.StructField("address", T.StringType()), T.StructField("root", T.StringType())])
    roots = spark.createDataFrame(replayed.flatMap(lambda r: r[0]), replay_schema)
    stopped = spark.createDataFrame(replayed.flatMap(lambda r: [(t, "super_cluster") for t in r[1]]), "txid string, kind string")
    small = comp.filter(F.col("size") <= 2 * guard).select("address", F.col("component").alias("root"))
    assigned = small.unionByName(roots)
    named = assigned.groupBy("root").agg(F.min("address").alias("cluster"), F.count("*").alias("n"))
    clusters = assigned.join(named, "root").filter(F.col("n") >= 2).select("address", "cluster").localCheckpoint()
    clusters.write.mode("overwrite").parquet(os.path.join(out, "clusters"))
    flagged.unionByName(stopped).write.mode("overwrite").parquet(os.path.join(out, "coinjoins"))
    n_clusters = clusters.select("cluster").distinct().count()
    log(f"clusters: {n_clusters} clusters of two or more, through block {clustered}")

    if args.exposure:
        exposures = exposure(spark, export, args.exposure, args.max_hops, inputs, outputs, clusters)
        with open(os.path.join(out, "exposure.json"), "w") as f:
            json.dump(exposures, f, indent=1, sort_keys=True)
        log(f"exposure: {len(exposures)} addresses")


def exposure(spark, export, addresses, max_hops, inputs, outputs, clusters):
    snapshot = latest_snapshot(export)
    if snapshot is None:
        labels = spark.createDataFrame([], "address string, category string, entity string, off_ramp boolean")
    else:
        labels = spark.read.parquet(os.path.join(snapshot, "labels.parquet")).filter(F.col("chain") == "btc")
    direct = labels.select("address", "category", "entity", "off_ramp")
    # A cluster's label: its labelled members, off-ramps first, then the
    # smallest address (crates/trace/src/resolve.rs ClusterLabels).
    order = Window.partitionBy("cluster").orderBy(F.col("off_ramp").desc(), F.col("address"))
    ranked = clusters.join(direct, "address").withColumn("rank", F.row_number().over(order))
    by_cluster = ranked.filter("rank = 1").select("cluster", F.col("category").alias("c_cat"), F.col("entity").alias("c_ent"))
    inferred = clusters.join(by_cluster, "cluster").select("address", "c_cat", "c_ent")
    every = (
        inferred.join(direct, "address", "full")
        .select(
            "address",
            F.coalesce("category", "c_cat").alias("category"),
            F.coalesce("entity", "c_ent").alias("entity"),
        )
        .localCheckpoint()
    )
    label_of = {r["address"]: (r["category"], r["entity"]) for r in every.collect()}
    labelled = spark.sparkContext.broadcast(frozenset(label_of))

    # The seeds' coins: what each address received.
    seeds = spark.createDataFrame([(a,) for a in addresses], "seed string")
    seed_coins = outputs.join(seeds, outputs.address == seeds.seed).select("seed", "tx_num", "value_sat").localCheckpoint()
    # The reachable transactions per seed, one hop per round: a transaction at
    # hop h asks the transactions of its inputs at hop h + 1 (unlabelled inputs
    # only, up to the hop limit).
    lab = F.udf(lambda a: a is not None and a in labelled.value, T.BooleanType(), useArrow=False)
    edges = inputs.select("tx_num", F.col("prev_tx_num").alias("prev"), lab("address").alias("stop")).filter("not stop")
    frontier = seed_coins.select("seed", "tx_num").distinct()
    reached = frontier
    for _ in range(max_hops):
        step = frontier.join(edges, "tx_num").select("seed", F.col("prev").alias("tx_num")).distinct()
        frontier = step.join(reached, ["seed", "tx_num"], "left_anti").localCheckpoint()
        if frontier.limit(1).count() == 0:
            break
        reached = reached.unionByName(frontier).localCheckpoint()
    txs = reached.join(inputs.select("tx_num", "prev_tx_num", "address", "value_sat", "vin"), "tx_num", "left")
    coinbase = outputs.select("tx_num", "coinbase").distinct()
    per_seed = (
        txs.join(coinbase, "tx_num")
        .rdd.map(lambda r: (r["seed"], (r["tx_num"], r["coinbase"], r["vin"], r["prev_tx_num"], r["address"], r["value_sat"])))
        .groupByKey()
    )
    coins = seed_coins.rdd.map(lambda r: (r["seed"], (r["tx_num"], r["value_sat"]))).groupByKey()

    def one(kv):
        seed, (rows, seed_list) = kv
        txs = {}
        for num, cb, vin, prev, address, value in sorted(rows, key=lambda r: (r[0], -1 if r[2] is None else r[2])):
            entry = txs.setdefault(num, (cb, []))
            if vin is not None:
                entry[1].append((prev, address, value))
        seeded, ends = backward_haircut(sorted(seed_list), txs, labelled.value, max_hops)
        return seed, seeded, ends

    results = per_seed.join(coins).map(one).collect()
    found = {seed: (seeded, ends) for seed, seeded, ends in results}
    return [
        exposure_of(a, *found.get(a, (0, [])), label_of=label_of, max_hops=max_hops) for a in addresses
    ]


if __name__ == "__main__":
    main(sys.argv[1:])
