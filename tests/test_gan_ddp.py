"""Multi-process GAN training: two gloo ranks launched by torchrun stay in lockstep."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch

from reid.gan.sampling import network_file
from reid.gan.training import SNAPSHOT

WORKER = """
import os, sys
import torch
import reid.gan.training as training

out, rank = sys.argv[1], int(os.environ["RANK"])
built = []  # the G and D that train_gan trains, which it does not return
build = training.build_networks
training.build_networks = lambda config: built.append(build(config)) or built[-1]
config = training.GanConfig(cfg="T", resolution=16, channel_base=256, channel_max=16, z_dim=16, w_dim=16, batch=8,
                            kimg=0.032, tick_kimg=0.016, snap=1, r1_interval=2)
images = torch.randint(0, 256, (32, 3, 128, 64), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
result = training.train_gan(images, config, f"{out}/run{rank}", "fp", "cpu", progress=False)
(G, D), = built
torch.save({"G": G.state_dict(), "D": D.state_dict(), "G_ema": result.G_ema.state_dict(),
            "history": result.history}, f"{out}/rank{rank}.pt")
"""


def test_two_ranks_hold_identical_weights(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(script), str(tmp_path)], check=True, timeout=120)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    snapshot = torch.load(tmp_path / "run0" / SNAPSHOT, weights_only=False)
    for key in ("G", "D", "G_ema"):
        for name, tensor in ranks[0][key].items():
            assert torch.equal(tensor, ranks[1][key][name]), f"{key}.{name}"
            assert torch.equal(tensor, snapshot[key][name]), f"{key}.{name}"
    assert not torch.equal(ranks[0]["G"]["mapping.w_avg"], torch.zeros(16))  # the averaged EMA buffers moved
    assert [row["kimg"] for row in ranks[0]["history"]] == [0.016, 0.032]  # cur_nimg counts the global batch
    assert [row["loss_G"] for row in ranks[0]["history"]] == [row["loss_G"] for row in ranks[1]["history"]]
    assert snapshot["cur_nimg"] == 32 and len(snapshot["rank_rng"]) == 2
    assert len(list((tmp_path / "run0").glob(network_file(None)))) == 2
    assert not (tmp_path / "run1").exists()  # only rank 0 writes
