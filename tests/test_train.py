"""The training loop, optimizer and schedule."""

import json

import numpy as np
import pytest

from ddse_np.errors import DDSEError
from ddse_np.nn.sparsity import count_nonzeros
from ddse_np.training.optim import MomentumSGD, PlateauSchedule
from ddse_np.training.run import train
from ddse_np.training.trainer import TrainConfig, Trainer

SMALL = dict(m=32, k=2, epochs=2, val_size=300, batch_size=64, project_every=5)


def test_momentum_sgd_update():
    p = {"w": np.array([1.0, 2.0])}
    opt = MomentumSGD(lr=0.1, momentum=0.5)
    g = {"w": np.array([1.0, -1.0])}
    opt.step(p, g)
    assert np.allclose(p["w"], [0.9, 2.1])
    assert np.array_equal(g["w"], [0.0, 0.0])  # consumed: ready to accumulate the next batch
    opt.step(p, {"w": np.array([1.0, -1.0])})  # v = 0.5 * v - 0.1 g = [-0.15, 0.15]
    assert np.allclose(p["w"], [0.75, 2.25])


def test_blocked_momentum_update_is_bit_identical_to_whole_arrays(monkeypatch):
    """The cache-blocked update (numpy) gives the whole-array arithmetic bit for bit, also for a
    parameter whose size is not a multiple of the block, and a non-contiguous one takes whole
    arrays."""
    rng = np.random.default_rng(3)
    shapes = {"W": (37, 11), "theta": (5,), "F": (6, 4)}
    params = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}
    params["F"] = np.asfortranarray(params["F"])
    reference = {name: value.copy() for name, value in params.items()}
    velocity = {}
    # 64 float32: W's 407 = 6 full blocks and a part
    monkeypatch.setattr(MomentumSGD, "BLOCK_BYTES", 256)
    opt = MomentumSGD(lr=0.05, momentum=0.9)
    for _ in range(3):
        grads = {
            name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()
        }
        for name, p in reference.items():  # the update written out on whole arrays
            g = grads[name] * np.float32(-0.05)
            velocity[name] = g if name not in velocity else velocity[name] * np.float32(0.9) + g
            p += velocity[name]
        opt.step(params, grads)
        assert all(not g.any() for g in grads.values())
    for name in shapes:
        assert np.array_equal(params[name], reference[name]), name
        assert np.array_equal(opt.velocity[name], velocity[name]), name


def test_plateau_schedule_drops_after_patience():
    sched = PlateauSchedule(lr=1.0, factor=0.1, patience=2)
    lrs = [sched.update(e) for e in [5.0, 4.0, 4.0, 4.5, 3.0, 3.1, 3.2]]
    assert np.allclose(lrs, [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01])


def test_optimizer_state_round_trip_continues_identically():
    rng = np.random.default_rng(0)
    grads = [{"w": rng.standard_normal(5)} for _ in range(4)]
    one = MomentumSGD(lr=0.1, momentum=0.8)
    p_one = {"w": np.ones(5)}
    for g in grads[:2]:
        one.step(p_one, {"w": g["w"].copy()})
    two = MomentumSGD(lr=123.0, momentum=0.0)  # every field comes from the state
    state = one.state()
    two.load_state(state)
    one.step({"w": np.zeros(5)}, {"w": np.ones(5)})  # neither the state nor `two` may follow `one`
    assert np.array_equal(state["velocity"]["w"], two.velocity["w"])
    one.load_state(state)
    p_two = {"w": p_one["w"].copy()}
    for g in grads[2:]:
        one.step(p_one, {"w": g["w"].copy()})
        two.step(p_two, {"w": g["w"].copy()})
    assert np.array_equal(p_one["w"], p_two["w"])
    assert two.lr == 0.1 and two.momentum == 0.8


def test_schedule_state_round_trip_continues_identically():
    one = PlateauSchedule(lr=1.0, factor=0.5, patience=2)
    fresh = PlateauSchedule(lr=7.0, factor=0.1, patience=3)
    assert json.loads(json.dumps(fresh.state(), allow_nan=False))["best"] is None  # strict JSON
    for e in [3.0, 2.0, 2.5]:
        one.update(e)
    two = PlateauSchedule(lr=9.0, factor=0.1, patience=7)
    two.load_state(json.loads(json.dumps(one.state(), allow_nan=False)))
    assert two.state() == one.state()
    assert [one.update(e) for e in [2.6, 2.7, 1.0]] == [two.update(e) for e in [2.6, 2.7, 1.0]]
    assert two.lr == 0.5  # one drop, at the second bad epoch (2.6)


def test_training_learns_and_respects_the_constraints(mnist_small):
    model, history = train(mnist_small, TrainConfig(**SMALL, seed=1))
    assert history["epoch"] == [1, 2]
    assert history["train_loss"][-1] < history["train_loss"][0] < np.log(10)
    assert history["val_error"][-1] < 50.0  # chance is 90%
    for name, axis in model.constraints.items():
        assert count_nonzeros(model.params[name], axis).max() <= model.s
    assert all(float(model.params[f"theta.{i}"].min()) >= 0 for i in range(3))


def test_same_seed_gives_identical_parameters(mnist_small):
    a, ha = train(mnist_small, TrainConfig(**SMALL, seed=7))
    b, hb = train(mnist_small, TrainConfig(**SMALL, seed=7))
    c, _ = train(mnist_small, TrainConfig(**SMALL, seed=8))
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
    assert ha["train_loss"] == hb["train_loss"]
    assert not np.array_equal(a.params["V"], c.params["V"])


def test_float64_training(mnist_small):
    model, _ = train(mnist_small, TrainConfig(**dict(SMALL, epochs=1), dtype="float64"))
    assert all(v.dtype == np.float64 for v in model.params.values())


def test_lr_drops_when_validation_stalls(mnist_small):
    _, history = train(
        mnist_small, TrainConfig(**dict(SMALL, epochs=4, m=8), patience=1, lr=1e-9, min_lr=0)
    )
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["lr"][0] == 1e-9 and history["lr"][-1] < 1e-9


def test_training_stops_when_the_schedule_ends(mnist_small):
    """lr 1e-9 never changes the validation error: it drops every epoch (patience 1),
    to 1e-10 after epoch 2 (still >= min_lr) and below min_lr after epoch 3."""
    config = TrainConfig(**dict(SMALL, epochs=20, m=8), patience=1, lr=1e-9, min_lr=1e-10)
    _, history = train(mnist_small, config)
    assert history["epoch"] == [1, 2, 3]
    assert np.allclose(history["lr"], [1e-9, 1e-9, 1e-10])


def test_validation_every_n_epochs_drives_the_schedule(mnist_small):
    """--val-every 3 over 7 epochs validates after epochs 3, 6 and 7 (the last) only; the
    schedule counts validations: lr 1e-9 leaves the error unchanged, so with patience 1 the lr
    drops after the second validation (epoch 6), not after every epoch."""
    config = TrainConfig(**dict(SMALL, epochs=7, m=8), patience=1, lr=1e-9, min_lr=0, val_every=3)
    trainer = Trainer.start(mnist_small, config)
    trainer.run()
    history = trainer.history
    assert [e for e, v in zip(history["epoch"], history["val_error"]) if np.isfinite(v)] == [
        3,
        6,
        7,
    ]
    assert history["lr"] == [1e-9] * 6 + [pytest.approx(1e-10)]
    assert trainer.optimizer.lr == pytest.approx(1e-11)  # dropped again after epoch 7's validation
    assert trainer.progress.best_epoch == 3


def test_training_with_augmentation(mnist_small):
    config = TrainConfig(
        **SMALL, aug_noise=0.05, aug_rotate=10, aug_scale=0.1, aug_blur=0.5, seed=3
    )
    model, history = train(mnist_small, config)
    assert history["train_loss"][-1] < history["train_loss"][0]
    again, _ = train(mnist_small, config)
    assert np.array_equal(model.params["V"], again.params["V"])  # augmentation is seeded too


def test_no_validation_split_keeps_lr(mnist_small):
    _, history = train(mnist_small, TrainConfig(**dict(SMALL, epochs=2, val_size=0)))
    assert history["lr"] == [0.01, 0.01] and all(np.isnan(history["val_error"]))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(sparsity=1.5), "sparsity"),
        (dict(sparsity=0.0), "sparsity"),
        (dict(k=0), "--k"),
        (dict(m=0), "--m"),
        (dict(train_fraction=0.0), "train-fraction"),
        (dict(train_fraction=1.2), "train-fraction"),
        (dict(lr=-1.0), "--lr"),
        (dict(batch_size=0), "--batch-size"),
        (dict(model="nope"), "unknown model"),
        (dict(val_size=1500), "val-size"),
        (dict(val_every=0), "val-every"),
        (dict(init_sparsity=1.5), "init-sparsity"),
        (dict(init_sparsity=-0.1), "init-sparsity"),
        (dict(init_sparsity=1e-4), "init-sparsity 0.0001 leaves s = 0"),
        (dict(model="fc", init_sparsity=0.25), "init-sparsity applies to .* not fc"),
        (dict(sparsity=0.1, init_sparsity=0.25), "init-sparsity 0.25 exceeds --sparsity 0.1"),
    ],
)
def test_impossible_settings_are_refused(mnist_small, change, message):
    with pytest.raises(DDSEError, match=message):
        train(mnist_small, TrainConfig(**{**SMALL, **change}))


def test_the_constraint_keeps_at_least_one_nonzero_per_line():
    """s = round(s/n * n), at least 1: a tiny s/n, or an input of one feature, keeps one."""
    assert TrainConfig(sparsity=1e-4).sparsity_s(784) == 1
    assert TrainConfig().sparsity_s(1) == 1 and TrainConfig().sparsity_s(784) == 196


def test_preprocess_applies_the_training_pca(mnist_small):
    model, _ = train(mnist_small, TrainConfig(**dict(SMALL, epochs=1, dtype="float64")))
    X = model.preprocess(mnist_small.images[:50])
    flat = mnist_small.images[:50].reshape(50, -1) / 255.0
    assert X.shape == (50, 784)
    assert np.allclose(X, (flat - model.mean) @ model.basis)
    assert np.allclose(model.basis.T @ model.basis, np.eye(784), atol=1e-8)


@pytest.mark.parametrize(
    "errors, best",
    [([5.0, 3.0, 4.0, 6.0], 2), ([5.0, 4.0, 4.0, 3.0], 4), ([2.0, 2.0, 2.5, 9.0], 1)],
)
def test_best_and_last_models_differ_exactly_when_the_best_epoch_is_not_the_last(
    mnist_small, monkeypatch, errors, best
):
    import ddse_np.training.trainer as train_module
    from ddse_np.training.trainer import Trainer

    it = iter(errors)
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {"error": next(it)})
    snapshots = []
    trainer = Trainer.start(mnist_small, TrainConfig(**dict(SMALL, epochs=4, patience=9)))
    trainer.run(
        on_epoch_end=lambda t: snapshots.append({n: v.copy() for n, v in t.model.params.items()})
    )
    assert trainer.progress.best_epoch == best and trainer.progress.best_val_error == min(errors)
    kept = trainer.kept_model().params
    for name in kept:
        assert np.array_equal(kept[name], snapshots[best - 1][name]), name
    differs = any(not np.array_equal(kept[n], trainer.model.params[n]) for n in kept)
    assert differs == (best != len(errors))
    monkeypatch.undo()
    last = Trainer.start(mnist_small, TrainConfig(**dict(SMALL, epochs=1, keep="last")))
    last.run()
    assert last.kept_model() is last.model


def test_keep_best_without_validation_keeps_the_last(mnist_small):
    from ddse_np.training.trainer import Trainer

    trainer = Trainer.start(mnist_small, TrainConfig(**dict(SMALL, val_size=0, epochs=1)))
    trainer.run()
    assert not trainer.keeps_best and trainer.kept_model() is trainer.model
    assert trainer.progress.best_epoch == 0 and trainer.progress.best_val_error is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_update_rounds_like_the_plain_numpy_form(dtype):
    """The optimizer gives bit for bit the plain in-place numpy update (a guard for any faster
    form)."""
    rng = np.random.default_rng(5)
    shape = (300, 400)
    p, v = rng.standard_normal(shape).astype(dtype), np.zeros(shape, dtype)
    p_ref, v_ref = p.copy(), v.copy()
    opt = MomentumSGD(lr=0.037, momentum=0.9)
    for _ in range(3):
        g = rng.standard_normal(shape).astype(dtype)
        g_ref = g.copy()
        opt.step({"w": p}, {"w": g})
        g_ref *= -0.037  # the plain form: v <- 0.9 v + (-lr g); p <- p + v
        v_ref *= 0.9
        v_ref += g_ref
        p_ref += v_ref
        assert not g.any()
        assert np.array_equal(opt.velocity["w"], v_ref) and np.array_equal(p, p_ref)


def test_prefetching_augmented_batches_changes_nothing(mnist_small, monkeypatch):
    from ddse_np.training.batches import BatchSource

    config = dict(SMALL, epochs=1, aug_rotate=10, aug_noise=0.05, aug_elastic=20, seed=4)
    monkeypatch.setattr(BatchSource, "prefetch", True)
    with_prefetch = train(mnist_small, TrainConfig(**config))[0]
    monkeypatch.setattr(BatchSource, "prefetch", False)
    without = train(mnist_small, TrainConfig(**config))[0]
    for name, value in with_prefetch.params.items():
        assert np.array_equal(value, without.params[name]), name


def test_no_weight_constraint_from_the_default_start(mnist_small):
    """--sparsity 1 --init-sparsity 0.25: the start of the default DDSE (s = n/4 per line), then
    no constraint (s = n): training fills the zeros; at --sparsity 1 alone the paper's S is all
    ones."""
    from ddse_np.backend import Backend
    from ddse_np.training.trainer import build_model

    n, backend = 784, Backend("numpy", "float64")
    start = build_model(TrainConfig(**dict(SMALL, sparsity=1.0, init_sparsity=0.25)), n, backend)
    default = build_model(TrainConfig(**dict(SMALL, sparsity=0.25)), n, backend)
    dense = build_model(TrainConfig(**dict(SMALL, sparsity=1.0)), n, backend)
    assert start.s == n and default.s == 196
    for name in start.constraints:
        assert np.array_equal(start.params[name], default.params[name])
    # every atom the same: why the ablation needs it
    assert np.linalg.matrix_rank(dense.params["W1"]) == 1

    model, _ = train(
        mnist_small, TrainConfig(**dict(SMALL, epochs=1, sparsity=1.0, init_sparsity=0.25))
    )
    assert model.s == n
    assert count_nonzeros(model.params["W1"], "row").min() > 196  # the zeros of the start filled in


def test_the_training_call_returns_the_model_the_command_saves(mnist_small, monkeypatch, tmp_path):
    """train() and ddse_np.train() return the kept (best-validation) model, as `ddse train` saves
    and tests it, not the last epoch's."""
    import ddse_np
    import ddse_np.training.trainer as train_module
    from ddse_np.errors import DDSEError

    config = dict(SMALL, epochs=3, patience=9)
    scripted = lambda: iter([3.0, 1.0, 2.0])  # noqa: E731  (the best epoch is 2 of 3)
    it = scripted()
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {"error": next(it)})
    snapshots = []
    trainer = train_module.Trainer.start(mnist_small, TrainConfig(**config))
    trainer.run(
        on_epoch_end=lambda t: snapshots.append({n: v.copy() for n, v in t.model.params.items()})
    )
    for call in (
        lambda: train(mnist_small, TrainConfig(**config)),
        lambda: ddse_np.train(mnist_small, **config),
    ):
        it = scripted()
        model, history = call()
        assert history["val_error"] == [3.0, 1.0, 2.0]
        for name, value in model.params.items():
            assert np.array_equal(value, snapshots[1][name]), name  # epoch 2's, not epoch 3's
        assert any(not np.array_equal(model.params[n], snapshots[2][n]) for n in model.params)
    with pytest.raises(DDSEError, match="unknown training setting 'epoch'"):
        ddse_np.train(mnist_small, epoch=3)
    with pytest.raises(DDSEError, match="either config or settings"):
        ddse_np.train(mnist_small, TrainConfig(), epochs=3)
