"""Generative models (issue 17): autoencoder and VAE through the CLI, `dlx sample`,
`dlx plot --latent`, and a VAE resumed after kill -9 equal to the uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.test_resume import assert_same, finish, outcome, stop_at, the_run

TINY = ["data=digits", "data.limit=200", "trainer.num_threads=1"]


def _run(tmp_path: Path) -> Path:
    (path,) = (tmp_path / "outputs" / "runs").iterdir()
    return path


def test_vae_reports_its_loss_terms_per_epoch(dlx, tmp_path):
    r = dlx("train", "model=vae", *TINY, "trainer.epochs=3", "model.beta=0.5")
    assert r.code == 0, r.err
    metrics = pd.read_csv(_run(tmp_path) / "metrics.csv")
    for split in ("train", "val"):
        for name in ("loss", "recon_loss", "kl", "elbo"):
            assert f"{split}_{name}" in metrics.columns
    val = metrics.iloc[-1]
    assert val["val_elbo"] == pytest.approx(-(val["val_recon_loss"] + val["val_kl"]), rel=1e-5)
    assert val["val_loss"] == pytest.approx(val["val_recon_loss"] + 0.5 * val["val_kl"], rel=1e-5)
    assert metrics["train_loss"].iloc[-1] < metrics["train_loss"].iloc[0]
    summary = json.loads((_run(tmp_path) / "summary.json").read_text())
    assert summary["monitor"] == "val_loss" and "test_elbo" in summary


def test_autoencoder_trains_and_samples(dlx, tmp_path):
    r = dlx("train", "model=autoencoder", *TINY, "trainer.epochs=2", "data.preprocess=minmax", "model.recon=bce")
    assert r.code == 0, r.err
    assert "val_kl" not in pd.read_csv(_run(tmp_path) / "metrics.csv").columns
    r = dlx("sample", "last", "-n", "9", "-o", "grid.png")
    assert r.code == 0, r.err
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_sample_grid_csv_and_latent_plot(dlx, tmp_path):
    assert dlx("train", "model=vae", *TINY, "trainer.epochs=2").code == 0
    r = dlx("sample", "last", "-n", "5", "-o", "s.csv", "--seed", "3")
    assert r.code == 0, r.err
    rows = pd.read_csv(tmp_path / "s.csv", header=None)
    assert rows.shape == (5, 64)
    assert dlx("sample", "last", "-n", "5", "-o", "t.csv", "--seed", "3").code == 0
    assert rows.equals(pd.read_csv(tmp_path / "t.csv", header=None))  # seeded draws
    assert dlx("sample", "last", "-n", "16", "-o", "grid.png").code == 0
    r = dlx("sample", "last", "--interpolate", "0", "5", "-n", "8", "-o", "line.csv")
    assert r.code == 0, r.err
    assert pd.read_csv(tmp_path / "line.csv", header=None).shape == (8, 64)
    assert dlx("sample", "last", "--interpolate", "0", "99999", "-o", "x.png").code == 2
    r = dlx("plot", "last", "--latent", "-o", "z.png")
    assert r.code == 0, r.err
    assert (tmp_path / "z.png").stat().st_size > 0 and (tmp_path / "grid.png").stat().st_size > 0


def test_samples_are_in_the_datas_units(dlx, tmp_path):
    """Decoded samples have the preprocessing undone: digits' pixels are back near 0..16."""
    assert dlx("train", "model=vae", *TINY, "trainer.epochs=3").code == 0
    assert dlx("sample", "last", "-n", "200", "-o", "s.csv").code == 0
    values = torch.tensor(pd.read_csv(tmp_path / "s.csv", header=None).to_numpy())
    assert 2 < values.mean() < 8 and values.max() > 8


@pytest.mark.slow
def test_vae_resume_after_kill_equals_the_uninterrupted_run(tmp_path):
    run = ["train", "model=vae", *TINY, "trainer.epochs=3", "trainer.deterministic=true", "-q"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    finish(tmp_path / "a", run)
    killed = stop_at(tmp_path / "b", run, "step@7")  # epoch 2, mid-way: the reparameterisation RNG matters
    assert killed.returncode != 0
    finish(tmp_path / "b", ["train", "--resume", "last", "-q"])
    assert_same(outcome(the_run(tmp_path / "b")), outcome(the_run(tmp_path / "a")))


def test_mmd_is_zero_for_equal_samples_and_grows_with_a_shift():
    from dlx.engine.generative import mmd

    torch.manual_seed(0)
    a = torch.randn(300, 2)
    assert mmd(a, a).item() == pytest.approx(0.0, abs=1e-6)
    near, far = mmd(a, torch.randn(300, 2)).item(), mmd(a, torch.randn(300, 2) + 2).item()
    assert 0 < near < far / 10


def test_gan_two_optimizers_metrics_and_sample_pictures(dlx, tmp_path):
    r = dlx("train", "model=gan", "data=moons", "data.n_samples=200", "trainer.epochs=3", "model.sample_every=2",
            "model.d_steps=2", "model.d_lr=0.0003", "trainer.num_threads=1")
    assert r.code == 0, r.err
    run = _run(tmp_path)
    metrics = pd.read_csv(run / "metrics.csv")
    for name in ("train_d_loss", "train_g_loss", "train_d_real", "train_d_fake", "val_mmd"):
        assert name in metrics.columns and metrics[name].notna().all()
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert set(last["optimizer"]) == {"generator", "discriminator"}
    assert last["optimizer"]["discriminator"]["param_groups"][0]["lr"] == pytest.approx(0.0003)
    steps = last["optimizer"]["discriminator"]["state"][0]["step"]
    assert float(steps) == 2 * float(last["optimizer"]["generator"]["state"][0]["step"])  # d_steps=2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["monitor"] == "val_mmd"
    r = dlx("sample", "last", "-n", "50", "-o", "points.png")
    assert r.code == 0, r.err


@pytest.mark.slow
def test_gan_on_moons_mmd_falls_fivefold(dlx, tmp_path):
    r = dlx("train", "model=gan", "data=moons", "data.noise=0.1", "trainer.epochs=60", "optim.lr=0.0005",
            "model.d_lr=0.0005", "optim.betas=[0.5,0.999]", "trainer.batch_size=64", "model.sample_every=0",
            "trainer.num_threads=1")
    assert r.code == 0, r.err
    mmd = pd.read_csv(_run(tmp_path) / "metrics.csv")["val_mmd"]
    assert mmd.iloc[-1] * 5 <= mmd.iloc[0]


# ---------------------------------------------------------------- model.family=conv (images)


def test_conv_vae_and_autoencoder_keep_the_image_shape():
    from dlx.models.generative import Autoencoder, GAN, GANConfig, VAEConfig

    torch.manual_seed(0)
    vae = Autoencoder(VAEConfig(family="conv", channels=[8, 16], latent=3), (1, 8, 8), variational=True)
    assert any(isinstance(m, torch.nn.Conv2d) for m in vae.encoder.modules())
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in vae.decoder.modules())
    out, mu, logvar = vae(torch.randn(5, 1, 8, 8))
    assert out.shape == (5, 1, 8, 8) and mu.shape == logvar.shape == (5, 3)
    gan = GAN(GANConfig(family="conv", channels=[8, 16], noise=4), (3, 16, 16))
    kinds = {type(m) for m in gan.modules()}
    assert {torch.nn.ConvTranspose2d, torch.nn.BatchNorm2d, torch.nn.LeakyReLU} <= kinds
    assert gan.generate(6).shape == (6, 3, 16, 16) and gan.discriminate(torch.randn(6, 3, 16, 16)).shape == (6,)


def test_conv_vae_trains_on_digits_and_samples_a_grid(dlx, tmp_path):
    r = dlx("train", "model=vae", "model.family=conv", "model.channels=[8,16]", *TINY, "trainer.epochs=2")
    assert r.code == 0, r.err
    run = _run(tmp_path)
    metrics = pd.read_csv(run / "metrics.csv")
    assert len(metrics) == 2 and metrics[["val_recon_loss", "val_kl", "val_elbo"]].notna().all().all()
    state = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert state["encoder.net.0.weight"].shape == (8, 1, 4, 4)  # a convolution, not a Linear
    r = dlx("sample", "last", "-n", "16", "-o", "grid.png")
    assert r.code == 0, r.err
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert dlx("sample", "last", "-n", "4", "-o", "s.csv").code == 0
    assert pd.read_csv(tmp_path / "s.csv", header=None).shape == (4, 64)


def test_dcgan_trains_on_digits_and_samples_a_grid(dlx, tmp_path):
    r = dlx("train", "model=gan", "model.family=conv", "model.channels=[8,16]", *TINY, "trainer.epochs=2",
            "model.sample_every=1")
    assert r.code == 0, r.err
    run = _run(tmp_path)
    metrics = pd.read_csv(run / "metrics.csv")
    assert metrics[["train_d_loss", "train_g_loss", "val_mmd"]].notna().all().all()
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    state = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert any(k.startswith("generator.net.") and k.endswith("running_mean") for k in state)  # batch norm
    r = dlx("sample", "last", "-n", "16", "-o", "grid.png")
    assert r.code == 0, r.err
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_eval_scores_a_vae_by_its_own_losses(dlx, tmp_path):
    assert dlx("train", "model=vae", *TINY, "trainer.epochs=2").code == 0
    r = dlx("eval", "last", "--format", "json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    summary = json.loads((_run(tmp_path) / "summary.json").read_text())
    for name in ("recon_loss", "kl", "elbo"):
        assert report["metrics"][name] == pytest.approx(summary[f"test_{name}"], rel=1e-4)
    assert report["size"] == summary["test_size"]
