"""htsget throughput vs reading the same region from the release directly (issue 19).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/htsget_region.py [--variants 20000]
[--samples 200] [--requests 50]``

One fresh home with an approved project and a synthetic release VCF (``--variants`` records on
chr1, ``--samples`` genotype columns), Crypt4GH-encrypted to the project and the data service as
the release writer does. Timed, taking turns, for a region of about a tenth of the records:
- htsget: ticket + data URL over loopback HTTP (uvicorn thread, one keep-alive connection), each
  request verifying the visa against the platform's records and decrypting the release in memory;
- member, direct: ``bcftools view -r`` on the member's decrypted copy (indexed, plaintext);
- member, decrypt: the same after decrypting the release into the scratch (first open).
Printed: requests per second and p50 per path, and MB/s of VCF text served.
"""

from __future__ import annotations

import argparse
import gzip
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from genomlab.config import load_config
from genomlab.platform.applications.entitlements import get_approval_status
from genomlab.platform.visas import (
    decode_unverified,
    get_visa_public_key,
    issue_visas,
    project_dataset,
)
from genomlab.services.htsget_api import create_htsget_router
from genomlab.workspace import open_release
from genomlab.workspace.crypt4gh_release import (
    data_service_release_key,
    encrypt_release_tree,
    ensure_project_key,
)
from tests.platform.conftest import approve_application


def _vcf(path: Path, n_variants: int, n_samples: int) -> None:
    rng = random.Random(19)
    head = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr1,length=250000000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
        + "\t".join(f"PP{i:05d}" for i in range(n_samples)),
    ]
    gts = ("0/0", "0/1", "1/1")
    rows = [
        f"chr1\t{1000 + i * 50}\t.\tA\tG\t50\tPASS\t.\tGT\t"
        + "\t".join(rng.choice(gts) for _ in range(n_samples))
        for i in range(n_variants)
    ]
    text = path.with_suffix("")
    text.write_text("\n".join(head + rows) + "\n")
    subprocess.run(["bcftools", "view", "-Oz", "-o", str(path), str(text)], check=True)
    subprocess.run(["bcftools", "index", "-t", str(path)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="htsget-bench-"))
    config = load_config(environ={"GENOMLAB_HOME": str(base / "home")})
    project, _ = approve_application(config)
    release = config.workspace_dir(project) / "release"
    release.mkdir(parents=True)
    _vcf(release / "genotypes.vcf.bgz", args.variants, args.samples)
    encryption = encrypt_release_tree(
        release, ensure_project_key(config, project), also_to=(data_service_release_key(config)[1],)
    )
    import json

    (release / "manifest.json").write_text(
        json.dumps({"release_id": "b1", "level": "individual", "encryption": encryption})
    )
    visa = next(
        v
        for v in issue_visas(config, "tom")
        if decode_unverified(v)["ga4gh_visa_v1"]["value"] == project_dataset(project)
    )
    app = FastAPI()
    app.include_router(
        create_htsget_router(
            config,
            resolve_key=lambda _t: get_visa_public_key(config),
            look_up=lambda: lambda a: get_approval_status(config, a),
        )
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    start, end = (
        1000 + (args.variants // 2) * 50,
        1000 + (args.variants // 2 + args.variants // 10) * 50,
    )
    region = {"referenceName": "chr1", "start": start, "end": end}
    first = time.perf_counter()
    copy = open_release(project, user="tom", config=config).path
    decrypt_once = time.perf_counter() - first
    times: dict[str, list[float]] = {"htsget": [], "bcftools on decrypted copy": []}
    size = 0
    with httpx.Client(base_url=url, timeout=60) as http:
        headers = {"Authorization": f"Bearer {visa}"}
        for _ in range(args.requests):
            t0 = time.perf_counter()
            ticket = http.get(f"/htsget/variants/{project}", params=region, headers=headers).json()
            item = ticket["htsget"]["urls"][0]
            body = http.get(item["url"], headers=item["headers"]).content
            times["htsget"].append(time.perf_counter() - t0)
            size = len(body)
            t0 = time.perf_counter()
            subprocess.run(
                [
                    "bcftools",
                    "view",
                    "-r",
                    f"chr1:{start + 1}-{end}",
                    str(copy / "genotypes.vcf.bgz"),
                ],
                check=True,
                capture_output=True,
            )
            times["bcftools on decrypted copy"].append(time.perf_counter() - t0)
    server.should_exit = True
    thread.join(timeout=10)
    whole = len(gzip.decompress((copy / "genotypes.vcf.bgz").read_bytes()))
    print(
        f"release VCF: {args.variants} variants x {args.samples} samples, {whole / 1e6:.1f} MB "
        f"text; region {size / 1e6:.2f} MB; {args.requests} requests each"
    )
    print(f"decrypting the release into the member's scratch (once): {decrypt_once * 1000:.0f} ms")
    for name, values in times.items():
        p50 = statistics.median(values)
        print(
            f"{name}: {len(values) / sum(values):.1f} req/s, p50 {p50 * 1000:.1f} ms, "
            f"{size / 1e6 / p50:.1f} MB/s"
        )
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
