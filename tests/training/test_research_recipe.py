"""The shipped Recipe and the research-only ResearchRecipe; fit's plugged-in steps."""

import dataclasses
import json

import pytest

torch = pytest.importorskip("torch")

from heartsound.training.train import (  # noqa: E402
    IMPROVED,
    RECIPES,
    RESEARCH_DEFAULTS,
    BestEpoch,
    Recipe,
    ResearchRecipe,
    WeightAveraging,
    recipe_from_dict,
    recipe_with,
    replace_recipe,
)

# Every recipe field as runs stored it before the split (config.json, model metadata).
OLD_DEFAULTS = {
    "epochs": 30, "batch_size": 8, "lr": 1e-3, "restart_epochs": 10, "min_lr": 1e-5,
    "weight_decay": 0.0, "crop": "first", "eval_hop_s": None, "class_weight": "none",
    "spec_augment": False, "gain_db": 0.0, "select": "best", "pretrained": None, "mixup": 0.0,
    "average_last": 0, "joint": None, "joint_labels": "merged", "own_repeat": 1,
    "noise_snr_db": 0.0, "label_smoothing": 0.0, "distill_from": None, "distill_teachers": 1,
    "distill_alpha": 0.5, "distill_temperature": 2.0, "joint_align": False, "stretch": 0.0}
# Fields added since, each off at its default.
NEW_DEFAULTS = {"balance": "none", "noise_color": "pink", "domain_adversarial": 0.0,
                "band_limit_hz": 0.0, "mixstyle": 0.0, "reverb_s": 0.0}


def test_shipped_recipes_use_no_research_setting():
    shipped = {f.name for f in dataclasses.fields(Recipe)}
    assert not shipped & RESEARCH_DEFAULTS.keys()
    assert shipped | RESEARCH_DEFAULTS.keys() == OLD_DEFAULTS.keys() | NEW_DEFAULTS.keys()
    for name in {*RECIPES, *(c.recipe for c in IMPROVED.values())}:
        assert type(RECIPES[name]) is Recipe
    # Read on a shipped recipe, a research setting is its default (off); it cannot be set.
    every = OLD_DEFAULTS | NEW_DEFAULTS
    assert {k: getattr(Recipe(), k) for k in every} == every
    assert {k: getattr(ResearchRecipe(), k) for k in every} == every
    with pytest.raises(TypeError):
        dataclasses.replace(Recipe(), mixup=0.2)
    with pytest.raises(AttributeError):
        _ = Recipe().no_such_setting


def test_every_field_can_be_set_and_the_class_follows():
    mixed = recipe_with(RECIPES["augment"], ["mixup=0.2", "epochs=5"])
    assert type(mixed) is ResearchRecipe and (mixed.mixup, mixed.epochs) == (0.2, 5)
    assert recipe_with(mixed, ["mixup=0"]) == dataclasses.replace(RECIPES["augment"], epochs=5)
    assert type(recipe_with(mixed, ["mixup=0"])) is Recipe
    assert replace_recipe(RECIPES["paper"], select="last") == Recipe(select="last")
    for key, value in (("distill_from", "base"), ("joint_align", "true"), ("own_repeat", "3"),
                       ("stretch", "0.1"),
                       ("average_last", "2"), ("distill_teachers", "2"),
                       ("distill_alpha", "0.3"), ("distill_temperature", "4")):
        r = recipe_with(Recipe(), [f"{key}={value}"])
        assert type(r) is ResearchRecipe and getattr(r, key) != (OLD_DEFAULTS
                                                                 | NEW_DEFAULTS)[key]


def test_stored_recipes_read_back_as_they_were():
    """Runs written before the split stored every field: a shipped recipe's dict reads back
    as that Recipe, one with a research setting on as a ResearchRecipe; either round-trips."""
    old = {**OLD_DEFAULTS, "spec_augment": True, "gain_db": 6.0, "select": "last"}
    assert recipe_from_dict(old) == RECIPES["augment"]
    assert type(recipe_from_dict(old)) is Recipe
    research = recipe_from_dict({**old, "mixup": 0.4})
    assert type(research) is ResearchRecipe and research.mixup == 0.4
    # every key, as before, and the fields added since at their defaults
    assert {**dataclasses.asdict(research)} == {**old, **NEW_DEFAULTS, "mixup": 0.4}
    for r in (RECIPES["joint-augment-smooth"], research):
        assert recipe_from_dict(json.loads(json.dumps(dataclasses.asdict(r)))) == r
    assert recipe_from_dict({"epochs": 5}) == Recipe(epochs=5)  # fields added since: defaults
    with pytest.raises(TypeError):
        recipe_from_dict({**old, "no_such_field": 1})


def test_a_run_written_before_the_split_resumes(tmp_path):
    """A run folder whose config.json holds the old, every-field recipe is the same run."""
    from test_recipe import two_class_csv

    from heartsound.training.train import run_cv

    two_class_csv(tmp_path)
    recipe = recipe_with(RECIPES["augment"], ["epochs=1"])
    kwargs = {"folds": 2, "recipe": recipe, "quiet": True, "final": False}
    first = run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "run", **kwargs)
    path = tmp_path / "run" / "config.json"
    config = json.loads(path.read_text())
    config["recipe"] = {**OLD_DEFAULTS, **config["recipe"]}
    path.write_text(json.dumps(config))
    again = run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "run", **kwargs)
    assert again["folds"] == first["folds"]


def test_best_epoch_and_weight_averaging_steps():
    model = torch.nn.Linear(2, 1)

    def at(value: float) -> torch.nn.Module:
        with torch.no_grad():
            model.weight.fill_(value)
        return model

    best = BestEpoch()
    rows = [{"val_acc": 0.5, "val_loss": 1.0}, {"val_acc": 0.7, "val_loss": 2.0},
            {"val_acc": 0.7, "val_loss": 3.0}, {"train_loss": 1.0}]
    for epoch, row in enumerate(rows, start=1):
        best.epoch_end(at(float(epoch)), epoch, row)
    assert [r.get("best") for r in rows] == [1, 1, None, None]
    best.finish(model)
    assert float(model.weight.detach()[0, 0]) == 2.0  # ties on accuracy go to the lower loss

    refreshed = []
    averaging = WeightAveraging(2, 4, refreshed.append)
    for epoch in range(1, 5):
        averaging.epoch_end(at(float(epoch)), epoch, {})
    averaging.finish(model)
    assert float(model.weight.detach()[0, 0]) == pytest.approx(3.5) and refreshed == [model]


def test_cell_balanced_draws_give_every_group_and_class_the_same_mass():
    import numpy as np

    from heartsound.training.train import cell_balanced

    groups = ["a"] * 6 + ["b"] * 2
    y = np.array([0, 0, 0, 0, 1, 1, 0, 1])
    p = cell_balanced(groups, y)
    assert p.sum() == pytest.approx(1.0)
    cells = {}
    for g, c, w in zip(groups, y.tolist(), p, strict=True):
        cells[(g, c)] = cells.get((g, c), 0.0) + w
    assert list(cells.values()) == pytest.approx([0.25] * 4)
    with pytest.raises(ValueError, match="group"):
        cell_balanced(None, y)


def test_domain_adversarial_reverses_the_gradient_and_leaves_no_head():
    """The reversal layer is the identity forward and flips (and scales) the gradient; a fit
    with the adversary trains, differs from one without, and returns the plain network (no
    hook left: its output is the same with the adversary's head gone)."""
    import numpy as np

    from heartsound.training.train import Recipe, fit, gradient_reversal, replace_recipe

    x = torch.ones(3, requires_grad=True)
    y = gradient_reversal(x, 0.5)
    y.sum().backward()
    assert torch.equal(y, x) and torch.equal(x.grad, torch.full((3,), -0.5))

    rng = np.random.default_rng(0)
    maps = [rng.standard_normal((872, 20)).astype(np.float32) for _ in range(8)]
    labels = np.array([0, 1] * 4)
    groups = ["a", "a", "b", "b"] * 2
    plain = Recipe(epochs=2, select="last")
    adversarial = replace_recipe(plain, domain_adversarial=1.0)
    with pytest.raises(ValueError, match="group"):
        fit("light-centred-bn", maps, labels, 2, adversarial, 0)
    model, curve = fit("light-centred-bn", maps, labels, 2, adversarial, 0, groups=groups)
    base, _ = fit("light-centred-bn", maps, labels, 2, plain, 0, groups=groups)
    assert len(curve) == 2
    batch = torch.from_numpy(np.stack(maps[:2]))
    assert not torch.allclose(model(batch), base(batch))
    assert not model.net.classifier._forward_pre_hooks


def test_mixstyle_mixes_channel_statistics_in_training_only():
    """MixStyle's hooks give each map of a mixed batch a blend of its own and its partner's
    channel mean and spread (weight 1: unchanged), change nothing in eval mode or in a batch
    drawn not to mix, and are gone after fit: the model exports as the plain network."""
    import numpy as np

    from heartsound.training.networks import build
    from heartsound.training.train import Batch, MixStyle, Recipe, fit, replace_recipe

    model = build("light-centred-bn", 2)
    step = MixStyle(model, 1.0, np.random.default_rng(0))
    assert len(step.hooks) == 3
    maps = torch.randn(4, 215, 20)
    x = maps[:, None]  # what the stem reads: (batch, 1, frames, coefficients)
    batch = Batch(torch.arange(4), maps, torch.zeros(4, dtype=torch.long))
    model.eval()
    with torch.no_grad():
        plain = model(maps)
        step.inputs(batch)
        assert step.mix is not None
        assert torch.equal(model(maps), plain)  # eval: no mixing
        model.train()
        stem = model.net.features[1]
        out = stem(x)  # the hooked stem: statistics mixed
        step.mix = None
        raw = stem(x)
        assert not torch.allclose(out, raw)
        order = torch.arange(4).roll(1)
        step.mix = (order, torch.ones(4, 1, 1, 1))  # weight 1: each map keeps its own
        assert torch.allclose(stem(x), raw, atol=1e-4)
        step.mix = (order, torch.zeros(4, 1, 1, 1))  # weight 0: the partner's statistics
        swapped = stem(x)
        assert torch.allclose(swapped.mean(dim=(2, 3)), raw.mean(dim=(2, 3))[order], atol=1e-4)
    step.finish(model)
    assert not any(m._forward_hooks for m in model.modules())

    rng = np.random.default_rng(0)
    maps = [rng.standard_normal((872, 20)).astype(np.float32) for _ in range(8)]
    labels = np.array([0, 1] * 4)
    plain_recipe = Recipe(epochs=2, select="last")
    mixed, _ = fit("light-centred-bn", maps, labels, 2,
                   replace_recipe(plain_recipe, mixstyle=1.0), 0)
    base, _ = fit("light-centred-bn", maps, labels, 2, plain_recipe, 0)
    probe = torch.from_numpy(np.stack(maps[:2]))
    assert not torch.allclose(mixed(probe), base(probe))
    assert not any(m._forward_hooks for m in mixed.modules())


def test_band_limited_noisy_copies(make_wav):
    """band_limit_hz changes the copies of a recording with energy at 1.5 kHz (the same draws
    otherwise), and it needs the noise copies."""
    import numpy as np
    from conftest import heart_like

    from heartsound.config import DEFAULT
    from heartsound.training import train

    x = heart_like(8.0, 4000) + 0.3 * np.sin(2 * np.pi * 1500 * np.arange(32000) / 4000)
    wav = make_wav("bright.wav", x, 4000)
    plain = train.noisy_copies(wav, DEFAULT, 60.0, np.random.default_rng(0))
    limited = train.noisy_copies(wav, DEFAULT, 60.0, np.random.default_rng(0),
                                 band_limit_hz=150.0)
    assert plain.shape == limited.shape and not np.allclose(plain, limited)
    with pytest.raises(ValueError, match="noise_snr_db"):
        train.check_recipe(train.replace_recipe(train.Recipe(), band_limit_hz=150.0))


def test_reverberated_noisy_copies(make_wav):
    """reverb_s smears each copy (the same draws otherwise differ), keeps its length and
    level, and needs the noise copies; the impulse response's tail decays."""
    import numpy as np
    from conftest import heart_like

    from heartsound.config import DEFAULT
    from heartsound.training import train

    wav = make_wav("beat.wav", heart_like(8.0, 4000), 4000)
    plain = train.noisy_copies(wav, DEFAULT, 60.0, np.random.default_rng(0))
    wet = train.noisy_copies(wav, DEFAULT, 60.0, np.random.default_rng(0), reverb_s=0.4)
    assert plain.shape == wet.shape and not np.allclose(plain, wet)
    click = np.zeros(4000)
    click[0] = 1.0
    y = train.reverberated(click, 4000, 0.2, np.random.default_rng(1))
    assert y.size == 4000 and np.isclose(np.sqrt(np.mean(y ** 2)), np.sqrt(np.mean(click ** 2)))
    early, late = np.abs(y[1:200]).mean(), np.abs(y[600:800]).mean()
    assert late < early / 10 and np.abs(y[801:]).max() < 1e-12  # nothing after the tail
    with pytest.raises(ValueError, match="noise_snr_db"):
        train.check_recipe(train.replace_recipe(train.Recipe(), reverb_s=0.3))
