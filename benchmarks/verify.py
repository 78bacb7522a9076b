"""What verifying costs against what ingesting the same tree costs (issue 18: at most 1.5x).

    nice python benchmarks/verify.py --events 2000000

Generates (once, then reuses) the synthetic tree of benchmarks/ingest.py in its own folder, signs
a digest chain for it with a key pair made here (trailscope.synthetic.digests: CloudTrail's
algorithm, one digest an hour per account and region), then, each in a fresh process:
  1. `trailscope ingest TREE --db FILE --quiet`, as a user runs it;
  2. `trailscope verify TREE --db FILE --public-keys KEYS --quiet` on that database: every
     digest checked, every log file read again, inflated and hashed;
and prints both times, the ratio, and each process's peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import ensure_tree, ingest, run  # benchmarks/ingest.py, beside this one

TARGET = 1.5  # verify / ingest


def ensure_digests(tree: Path, keys: Path) -> None:
    """Sign the tree's digests once; keep the public key as list-public-keys prints it."""
    if keys.exists():
        return
    from cryptography.hazmat.primitives import serialization

    from trailscope.synthetic.digests import listing, new_key, signer, write_digests

    print(f"signing digests for {tree} ...", flush=True)
    start = time.monotonic()
    s = signer(new_key())
    written = write_digests(tree, lambda _end: s)
    ever = (dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    keys.write_text(json.dumps(listing([(s, *ever)])))
    pem = s.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (keys.parent / "signing-key.pem").write_bytes(pem)  # a benchmark key, signing nothing else
    print(f"  {len(written):,} digests in {time.monotonic() - start:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ts-bench-verify")
    args = parser.parse_args()
    tree = args.dir / f"tree-{args.events}"
    ensure_tree(tree, args.events)
    keys = args.dir / f"keys-{args.events}.json"
    ensure_digests(tree, keys)
    work = args.dir / "work"
    work.mkdir(parents=True, exist_ok=True)

    i_secs, i_rss, events = ingest(tree, work, "verify-bench")
    db = work / "verify-bench.duckdb"
    v_secs, v_rss, _ = run(
        [
            sys.executable,
            "-m",
            "trailscope",
            "verify",
            str(tree),
            "--db",
            str(db),
            "--public-keys",
            str(keys),
            "--quiet",
        ]
    )
    counts = run(
        [
            sys.executable,
            "-m",
            "trailscope",
            "sql",
            "select status, count(*) as n from integrity_files group by 1 order by 1",
            "--db",
            str(db),
            "--format",
            "csv",
        ]
    )[2]
    mb = 2**20
    print(f"\n{'':20}{'events':>12}{'seconds':>10}{'peak RSS':>12}")
    print(f"{'trailscope ingest':20}{events:>12,}{i_secs:>10.1f}{i_rss / mb:>9,.0f} MB")
    print(f"{'trailscope verify':20}{events:>12,}{v_secs:>10.1f}{v_rss / mb:>9,.0f} MB")
    print("\nlog files by status:", ", ".join(counts.split()[1:]))
    ratio = v_secs / i_secs
    print(f"\nratio: verify costs {ratio:.2f}x ingest")
    print(f"target <= {TARGET}x ingest: {'met' if ratio <= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
